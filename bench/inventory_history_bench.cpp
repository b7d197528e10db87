// What one inventory command costs as the entity runtime runs it, by how many finished orders the
// SKU remembers, for the code before (bench/inventory_before: the finished orders in a std::deque
// and a std::map, copied whole with the state) and after (a util::history_map). Run through
// bench/inventory-history.
//
// One command = what actors/runtime/entity.hpp does for a batch of one: copy the committed state
// (it decides on a working copy and keeps the committed one until the append is durable), decide,
// apply the events to the copy, then keep the copy (the old state is destroyed). The commands are
// a bench/orders sale's: a take (commit{order, 1}) and, in its own batch, settle{order}. Each row
// times one generation's worth (1 000) of sales in a row from a SKU that remembers N finished
// orders, so every merge the history makes is counted; rounds alternate before and after, and the
// median round is printed. Also the state copy alone (copy + destroy).

#include "actors/inventory/state.hpp"
#include "bench/inventory_before/state.hpp"

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
template <class State>
State with_history(size_t finished) {
  State s = apply(State{}, inventory::restocked{inventory::max_quantity});
  for (const auto& id : order_ids(0, finished)) {
    s = apply(std::move(s), inventory::committed{id, 1});
    s = apply(std::move(s), inventory::settled{id});
  }
  return s;
}

/// One batch of one command, the runtime's way; false if it was not accepted.
template <class State>
bool run_batch(State& committed_state, const inventory::command& cmd) {
  State next = committed_state;
  auto d = decide(next, cmd, now);
  for (const auto& ev : d.events) {
    next = apply(std::move(next), ev);
  }
  committed_state = std::move(next);
  return d.accepted();
}

/// Nanoseconds per command over one round of sales from `start`.
template <class State>
double ns_per_command(const State& start, const std::vector<std::string>& ids) {
  State s = start;
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
template <class State>
double ns_per_copy(const State& s, size_t copies) {
  size_t keep = 0;
  const auto t0 = clock_type::now();
  for (size_t i = 0; i < copies; ++i) {
    State copy = s;
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
              "sales (a take and a settle each), before / after\n\n",
              rounds, sales_per_round);
  std::printf("| finished orders at the start | remembered during the round, before / after | ns "
              "per command before | after | state copy ns before | after |\n");
  std::printf("|---:|---|---:|---:|---:|---:|\n");
  double before_at_max = 0;
  double after_at_max = 0;
  for (auto n : histories) {
    const auto before_start = with_history<inventory_before::inventory_state>(n);
    const auto after_start = with_history<inventory::inventory_state>(n);
    const auto ids = order_ids(1'000'000, sales_per_round);
    std::vector<double> before, after, copy_before, copy_after;
    for (size_t r = 0; r < rounds; ++r) {
      before.push_back(ns_per_command(before_start, ids));
      after.push_back(ns_per_command(after_start, ids));
      copy_before.push_back(ns_per_copy(before_start, 200));
      copy_after.push_back(ns_per_copy(after_start, 200));
    }
    // How many finished orders the SKU remembers during a round (after: forgotten a generation
    // at a time; before: the newest 10 000).
    auto range_of = [&](auto s) {
      auto lo = s.finished.size();
      auto hi = lo;
      for (const auto& id : ids) {
        run_batch(s, inventory::command{inventory::commit{id, 1}});
        run_batch(s, inventory::command{inventory::settle{id}});
        lo = std::min(lo, s.finished.size());
        hi = std::max(hi, s.finished.size());
      }
      return std::to_string(lo) + ".." + std::to_string(hi);
    };
    std::printf("| %zu | %s / %s | %.0f | %.0f | %.0f | %.0f |\n", n,
                range_of(before_start).c_str(), range_of(after_start).c_str(), median(before),
                median(after), median(copy_before), median(copy_after));
    if (n == histories.back()) {
      before_at_max = median(before);
      after_at_max = median(after);
    }
  }
  std::printf("\ncommand_ns_before=%.0f command_ns_after=%.0f speedup=%.1f (at %zu finished "
              "orders)\n",
              before_at_max, after_at_max, before_at_max / after_at_max, histories.back());
  return 0;
}
