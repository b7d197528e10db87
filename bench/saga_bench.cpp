// Orders per second through the whole saga (place, reserve, authorize at the PSP stand-in with no
// latency, commit, capture, notify), and the hot-SKU ceiling before and after deciding a whole
// mailbox batch into one journal append. Run through bench/saga, which starts a private PostgreSQL.
//
// An order counts as done when its saga's last event (order.payment_captured,
// order.compensation_completed, or an order.confirmed naming its SKUs: a sale the settlement runner
// settles and notifies) is seen by a gap-safe subscription on the journal, polled every
// millisecond: latencies are from sending place_order to that moment.

#include "actors/inventory/messages.hpp"
#include "actors/inventory/replies.hpp"
#include "actors/order/codec.hpp"
#include "actors/order/messages.hpp"
#include "actors/order/replies.hpp"
#include "actors/runtime/messages.hpp"
#include "actors/system.hpp"
#include "config/loader.hpp"
#include "core/actor_system.hpp"
#include "persistence/pg_event_store.hpp"
#include "persistence/subscription.hpp"
#include "psp/server.hpp"

#include <caf/all.hpp>
#include <pqxx/pqxx>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <thread>
#include <unordered_map>

namespace {

using namespace ordermesh;
using clock_type = std::chrono::steady_clock;
using namespace std::chrono_literals;

/// Whether `e` is the last event of an order's saga.
bool saga_ended(const persistence::recorded_event& e) {
  if (e.type == actors::order::wire::payment_captured ||
      e.type == actors::order::wire::compensation_completed) {
    return true;
  }
  if (e.type != actors::order::wire::order_confirmed) {
    return false;
  }
  auto decoded = actors::order::decode(e.type, e.schema_version, e.payload);
  const auto* confirmed =
      decoded ? std::get_if<actors::order::order_confirmed>(&*decoded) : nullptr;
  return confirmed != nullptr && !confirmed->skus.empty();
}

struct figures {
  double orders_per_s = 0;
  double p50_ms = 0;
  double p99_ms = 0;
  int done = 0;
};

double percentile(std::vector<double>& sorted, double p) {
  if (sorted.empty()) {
    return 0;
  }
  auto i = static_cast<size_t>(std::ceil(p * static_cast<double>(sorted.size()))) - 1;
  return sorted[std::min(i, sorted.size() - 1)];
}

void reset(const config::pg_config& pg) {
  pqxx::connection c{persistence::pg_event_store::connection_string(pg)};
  pqxx::nontransaction tx{c};
  tx.exec0("TRUNCATE events, snapshots");
}

/// Places `orders` orders (one unit of sku_of(i) each), at most `window` unfinished at a time.
figures run(const config::app_config& cfg, const std::string& name, int orders, int skus,
            int window, bool batch_commands, std::chrono::seconds limit) {
  reset(cfg.pg);
  caf::actor_system_config caf_cfg;
  core::configure(caf_cfg);
  caf::actor_system sys{caf_cfg};
  actors::runtime::host_settings settings;
  settings.batch_commands = batch_commands;
  actors::order::saga_policy policy;
  auto node = actors::start_node_actors(sys, cfg, settings, policy);
  caf::scoped_actor self{sys};
  for (int s = 0; s < skus; ++s) {
    actors::envelope e;
    e.message_id = "restock-" + std::to_string(s);
    self->request(node.hosts->inventory, 30s, actors::runtime::route_atom::value,
                  "sku-" + std::to_string(s), e,
                  caf::make_message(actors::inventory::restock{1'000'000}))
        .receive([](actors::inventory::inventory_reply&) {}, [](caf::error&) {});
  }

  std::mutex mtx;
  std::unordered_map<std::string, clock_type::time_point> sent_at;
  std::vector<double> latencies;
  std::atomic<int> done{0};
  std::atomic<bool> stop{false};
  persistence::log_checkpoint start_position;
  {
    persistence::pg_event_store store{cfg.pg, cfg.journal};
    auto end = store.log_end();
    start_position = end ? *end : persistence::log_checkpoint{};
  }
  std::thread watcher{[&] {
    persistence::pg_event_store store{cfg.pg, cfg.journal};
    persistence::subscription tail{store, start_position};
    while (!stop) {
      auto events = tail.poll(5000);
      auto now = clock_type::now();
      if (!events || events->empty()) {
        std::this_thread::sleep_for(1ms);
        continue;
      }
      std::lock_guard<std::mutex> lock{mtx};
      for (const auto& e : *events) {
        if (saga_ended(e)) {
          auto found = sent_at.find(e.stream_id.substr(6));
          if (found != sent_at.end()) {
            latencies.push_back(
                std::chrono::duration<double, std::milli>(now - found->second).count());
            ++done;
          }
        }
      }
    }
  }};

  auto t0 = clock_type::now();
  auto deadline = t0 + limit;
  int sent = 0;
  while (sent < orders && clock_type::now() < deadline) {
    if (sent - done.load() >= window) {
      std::this_thread::sleep_for(200us);
      continue;
    }
    auto oid = name + "-" + std::to_string(sent);
    actors::envelope e;
    e.message_id = "place-" + oid;
    {
      std::lock_guard<std::mutex> lock{mtx};
      sent_at[oid] = clock_type::now();
    }
    self->send(node.hosts->order, actors::runtime::route_atom::value, oid, e,
               caf::make_message(actors::order::place_order{
                   oid, "bench", {{"sku-" + std::to_string(sent % skus), 1}}, {"tok_visa", 1000}}));
    ++sent;
    // The placement acknowledgements are not needed: drop them as they come.
    self->receive([](actors::order::order_reply&) {}, [](caf::error&) {},
                  caf::after(std::chrono::seconds(0)) >> [] {});
  }
  while (done.load() < sent && clock_type::now() < deadline) {
    std::this_thread::sleep_for(1ms);
  }
  auto elapsed = std::chrono::duration<double>(clock_type::now() - t0).count();
  stop = true;
  watcher.join();
  node.stop();
  figures f;
  f.done = done.load();
  f.orders_per_s = f.done / elapsed;
  std::sort(latencies.begin(), latencies.end());
  f.p50_ms = percentile(latencies, 0.5);
  f.p99_ms = percentile(latencies, 0.99);
  return f;
}

/// The hot SKU's own ceiling: `commands` one-unit reservations from `window` concurrent buyers on
/// one inventory entity, as in a flash sale; reservations per second.
double hot_sku_reservations(const config::app_config& cfg, int commands, int window,
                            bool batch_commands, std::chrono::seconds limit) {
  reset(cfg.pg);
  caf::actor_system_config caf_cfg;
  core::configure(caf_cfg);
  caf::actor_system sys{caf_cfg};
  actors::runtime::host_settings settings;
  settings.batch_commands = batch_commands;
  auto node = actors::start_node_actors(sys, cfg, settings, actors::order::saga_policy{});
  caf::scoped_actor self{sys};
  actors::envelope restock_env;
  restock_env.message_id = "restock-hot";
  self->request(node.hosts->inventory, 30s, actors::runtime::route_atom::value, std::string{"hot"},
                restock_env, caf::make_message(actors::inventory::restock{1'000'000}))
      .receive([](actors::inventory::inventory_reply&) {}, [](caf::error&) {});
  int sent = 0;
  int answered = 0;
  auto send_one = [&] {
    actors::envelope e;
    e.message_id = "reserve-" + std::to_string(sent);
    self->send(
        node.hosts->inventory, actors::runtime::route_atom::value, std::string{"hot"}, e,
        caf::make_message(actors::inventory::reserve{"buyer-" + std::to_string(sent), 1, 600'000}));
    ++sent;
  };
  auto t0 = clock_type::now();
  auto deadline = t0 + limit;
  while (sent < std::min(window, commands)) {
    send_one();
  }
  while (answered < sent && clock_type::now() < deadline) {
    self->receive([&](actors::inventory::inventory_reply&) { ++answered; },
                  [&](caf::error&) { ++answered; }, caf::after(std::chrono::seconds(5)) >> [] {});
    if (sent < commands && clock_type::now() < deadline) {
      send_one();
    }
  }
  auto elapsed = std::chrono::duration<double>(clock_type::now() - t0).count();
  node.stop();
  return answered / elapsed;
}

void print(const char* label, int orders, const figures& f) {
  std::printf("%-34s %7d/%-7d %10.0f %9.1f %9.1f\n", label, f.done, orders, f.orders_per_s,
              f.p50_ms, f.p99_ms);
  std::fflush(stdout);
}

} // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  auto loaded = config::load({args, config::process_env(), {}, {}});
  if (auto* err = std::get_if<config::config_error>(&loaded)) {
    std::cerr << err->line() << "\n";
    return 2;
  }
  auto cfg = std::get<config::loaded_config>(loaded).values;
  {
    persistence::pg_event_store store{cfg.pg, cfg.journal};
    if (auto m = store.migrate(); !m) {
      std::cerr << "bench: " << m.error().detail << "\n";
      return 1;
    }
  }
  cfg.psp.port = 0;
  cfg.psp.latency = 0ms;
  psp::psp_server psp_server{cfg.psp, 2};
  if (auto err = psp_server.start()) {
    std::cerr << "bench: psp: " << *err << "\n";
    return 1;
  }
  cfg.psp.port = psp_server.port();
  auto orders = std::getenv("OM_BENCH_ORDERS") ? std::atoi(std::getenv("OM_BENCH_ORDERS")) : 4000;
  auto limit = std::chrono::seconds(90);

  std::printf(
      "saga benchmark: PSP stand-in on loopback with 0 ms latency, at most 256 sagas open\n");
  std::printf("%-34s %15s %10s %9s %9s\n", "run", "done/orders", "orders/s", "p50_ms", "p99_ms");
  auto spread = run(cfg, "spread", orders, 500, 256, true, limit);
  print("500 SKUs, batching on", orders, spread);
  auto hot_orders = orders / 2;
  auto before = run(cfg, "hotoff", hot_orders, 1, 256, false, limit);
  print("1 hot SKU, one command per append", hot_orders, before);
  auto after = run(cfg, "hoton", hot_orders, 1, 256, true, limit);
  print("1 hot SKU, mailbox batch per append", hot_orders, after);
  psp_server.stop();
  auto commands = orders * 2;
  auto hot_limit = std::chrono::seconds(20); // unbatched, the hot SKU does a few hundred per second
  auto hot_before = hot_sku_reservations(cfg, commands, 512, false, hot_limit);
  std::printf("%-34s %15d %10.0f reservations/s\n", "hot SKU alone, one command/append", commands,
              hot_before);
  auto hot_after = hot_sku_reservations(cfg, commands, 512, true, hot_limit);
  std::printf("%-34s %15d %10.0f reservations/s\n", "hot SKU alone, mailbox batch/append", commands,
              hot_after);
  std::printf("whole saga on the hot SKU: %.1fx; the saga's other steps share the 2 cores\n",
              before.orders_per_s > 0 ? after.orders_per_s / before.orders_per_s : 0.0);
  std::printf("targets: hot_sku_speedup >= 5 (the hot SKU's ceiling: reservations/s after/before, "
              "512 concurrent buyers)\n");
  std::printf("orders_per_s=%.0f hot_sku_speedup=%.1f\n", spread.orders_per_s,
              hot_before > 0 ? hot_after / hot_before : 0.0);
  return 0;
}
