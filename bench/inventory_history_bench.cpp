// What one inventory command costs as the entity runtime runs it, by how many finished orders the
// SKU remembers, against what it costs with an empty history (the ceiling: a command's cost should
// not grow with the SKU's past). Run through bench/inventory-history.
//
// One command = what actors/runtime/entity.hpp does for a batch of one: copy the committed state
// (it decides on a working copy and keeps the committed one until the append is durable), decide,
// apply the events to the copy, then keep the copy (the old state is destroyed). The commands are
// a bench/orders sale's: a take (commit{order, 1}) and, in its own batch, settle{order}. Each row
// times one generation's worth (1 000) of sales in a row from a SKU that remembers N finished
// orders, so every merge the history makes is counted; the median round is printed. Also the state
// copy alone (copy + destroy).

#include "actors/inventory/state.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

using namespace ordermesh::actors;
using clock_type = std::chrono::steady_clock;

constexpr size_t sales_per_round = inventory::finished_generation;
const decide_context now{1'700'000'000'000'000, 0.0};

/// Ids like the gateway's (36 characters, beyond the small-string buffer).
std::vector<std::string> order_ids(size_t first, size_t count) {
  std::vector<std::string> ids;
  ids.reserve(count);
  for (size_t i = first; i < first + count; ++i) {
    char id[48];
    std::snprintf(id, sizeof id, "0190d1c2-7e4a-7b3c-9f1e-%012zu", i);
    ids.emplace_back(id);
  }
  return ids;
}

/// A SKU with plenty of stock that sold one unit to each of `finished` orders, each settled.
inventory::inventory_state with_history(size_t finished) {
  auto s = apply(inventory::inventory_state{}, inventory::restocked{inventory::max_quantity});
  for (const auto& id : order_ids(0, finished)) {
    s = apply(std::move(s), inventory::committed{id, 1});
    s = apply(std::move(s), inventory::settled{id});
  }
  return s;
}

/// One batch of one command, the runtime's way; false if it was not accepted.
bool run_batch(inventory::inventory_state& committed_state, const inventory::command& cmd) {
  auto next = committed_state;
  auto d = decide(next, cmd, now);
  for (const auto& ev : d.events) {
    next = apply(std::move(next), ev);
  }
  committed_state = std::move(next);
  return d.accepted();
}

/// Nanoseconds per command over one round of sales from `start`.
double ns_per_command(const inventory::inventory_state& start,
                      const std::vector<std::string>& ids) {
  auto s = start;
  const auto t0 = clock_type::now();
  for (const auto& id : ids) {
    if (!run_batch(s, inventory::command{inventory::commit{id, 1}}) ||
        !run_batch(s, inventory::command{inventory::settle{id}})) {
      std::fprintf(stderr, "a sale was refused\n");
      std::exit(1);
    }
  }
  const auto elapsed = std::chrono::duration<double, std::nano>(clock_type::now() - t0).count();
  return elapsed / static_cast<double>(2 * ids.size());
}

/// Nanoseconds to copy and destroy `s`.
double ns_per_copy(const inventory::inventory_state& s, size_t copies) {
  size_t keep = 0;
  const auto t0 = clock_type::now();
  for (size_t i = 0; i < copies; ++i) {
    auto copy = s;
    keep += static_cast<size_t>(copy.on_hand);
  }
  const auto elapsed = std::chrono::duration<double, std::nano>(clock_type::now() - t0).count();
  if (keep == 42) {
    std::puts(""); // keeps the copies from being optimized away
  }
  return elapsed / static_cast<double>(copies);
}

double median(std::vector<double> xs) {
  std::sort(xs.begin(), xs.end());
  return xs[xs.size() / 2];
}

} // namespace

int main() {
  const size_t rounds =
      std::getenv("OM_BENCH_ROUNDS") ? std::stoul(std::getenv("OM_BENCH_ROUNDS")) : 7;
  const std::vector<size_t> histories{0, 100, 1'000, 10'000};
  std::printf("one inventory command (copy + decide + apply + keep), median of %zu rounds of %zu "
              "sales (a take and a settle each)\n\n",
              rounds, sales_per_round);
  std::printf("| finished orders at the start | remembered during the round | ns per command | "
              "against an empty history | state copy ns |\n");
  std::printf("|---:|---|---:|---:|---:|\n");
  double at_empty = 0;
  double at_max = 0;
  for (auto n : histories) {
    const auto start = with_history(n);
    const auto ids = order_ids(1'000'000, sales_per_round);
    std::vector<double> command, copy;
    for (size_t r = 0; r < rounds; ++r) {
      command.push_back(ns_per_command(start, ids));
      copy.push_back(ns_per_copy(start, 200));
    }
    // How many finished orders the SKU remembers during a round (forgotten a generation at a time).
    auto s = start;
    auto lo = s.finished.size();
    auto hi = lo;
    for (const auto& id : ids) {
      run_batch(s, inventory::command{inventory::commit{id, 1}});
      run_batch(s, inventory::command{inventory::settle{id}});
      lo = std::min(lo, s.finished.size());
      hi = std::max(hi, s.finished.size());
    }
    const auto ns = median(command);
    if (n == histories.front()) {
      at_empty = ns;
    }
    at_max = ns;
    std::printf("| %zu | %zu..%zu | %.0f | %.2fx | %.0f |\n", n, lo, hi, ns, ns / at_empty,
                median(copy));
  }
  std::printf("\ncommand_ns_at_0=%.0f command_ns_at_%zu=%.0f ratio=%.2f\n", at_empty,
              histories.back(), at_max, at_max / at_empty);
  return 0;
}
