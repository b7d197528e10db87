#include "actors/inventory/messages.hpp"
#include "actors/order/codec.hpp"
#include "actors/order/messages.hpp"
#include "actors/payment/psp_gateway.hpp"
#include "actors/shard/messages.hpp"
#include "actors/system.hpp"
#include "app/commands.hpp"
#include "core/actor_system.hpp"
#include "persistence/pg_event_store.hpp"
#include "psp/server.hpp"

#include <caf/all.hpp>
#include <nlohmann/json.hpp>

#include <atomic>
#include <csignal>
#include <iostream>
#include <thread>

namespace ordermesh::app {

namespace {

using namespace std::chrono_literals;

std::atomic<bool> interrupted{false};

void on_signal(int) {
  interrupted = true;
}

struct demo_order {
  std::string id;
  std::vector<actors::order::order_line> lines;
  std::string card;
  std::string expect;
};

/// The last events of the order's stream that say how it ended, or "" while its saga runs.
std::string outcome_of(persistence::pg_event_store& store, const std::string& order_id,
                       std::string& reason) {
  auto events = store.read_stream("order/" + order_id, 1, 1000);
  if (!events) {
    return "";
  }
  std::string terminal;
  bool finished = false;
  for (const auto& e : *events) {
    if (e.type == actors::order::wire::order_confirmed) {
      terminal = "confirmed";
    } else if (e.type == actors::order::wire::order_rejected ||
               e.type == actors::order::wire::order_cancelled) {
      terminal = e.type == actors::order::wire::order_rejected ? "rejected" : "cancelled";
      reason = nlohmann::json::parse(e.payload).value("reason", "");
    }
    finished = finished || e.type == actors::order::wire::payment_captured ||
               e.type == actors::order::wire::compensation_completed;
  }
  return finished ? terminal : "";
}

} // namespace

int run_order_demo(const config::loaded_config& loaded) {
  auto cfg = loaded.values;
  persistence::pg_event_store store{cfg.pg, cfg.journal};
  if (auto m = store.migrate(); !m) {
    std::cerr << "ordermesh: cannot prepare the event store: " << m.error().detail << "\n";
    return 1;
  }
  psp::psp_server psp_server{cfg.psp};
  if (auto err = psp_server.start()) {
    std::cerr << "ordermesh: the PSP stand-in cannot listen on " << cfg.psp.host << ":"
              << cfg.psp.port << ": " << *err << "\n";
    return 1;
  }
  cfg.psp.port = psp_server.port();
  std::cout << "ordermesh order demo: PSP stand-in on http://" << psp_server.address()
            << ", journal postgresql://" << cfg.pg.user << "@" << cfg.pg.host << ":" << cfg.pg.port
            << "/" << cfg.pg.dbname << "\n\n";

  caf::actor_system_config caf_cfg;
  core::configure(caf_cfg);
  caf::actor_system sys{caf_cfg};
  auto node = actors::start_node_actors(sys, cfg);
  auto stop_node = caf::detail::make_scope_guard([&] { node.stop(); });
  caf::scoped_actor self{sys};
  auto run_id =
      std::to_string(std::chrono::system_clock::now().time_since_epoch().count() % 1000000);

  auto send = [&](const caf::actor& host, const std::string& id, caf::message cmd,
                  const std::string& message_id) {
    actors::shard::command_reply reply;
    actors::envelope env;
    env.message_id = message_id;
    env.correlation_id = id;
    bool ok = true;
    self->request(host, 10s, actors::shard::route_atom::value, id, env, std::move(cmd))
        .receive([&](actors::shard::command_reply& r) { reply = r; },
                 [&](caf::error& e) {
                   std::cout << "  " << id << ": " << sys.render(e) << "\n";
                   ok = false;
                 });
    return ok ? std::optional<actors::shard::command_reply>{reply} : std::nullopt;
  };

  auto apple = "apple-" + run_id;
  auto pear = "pear-" + run_id;
  std::cout << "1. restock: " << apple << " x5, " << pear << " x1\n";
  send(node.hosts->inventory, apple, caf::make_message(actors::inventory::restock{5}),
       "restock-" + apple);
  send(node.hosts->inventory, pear, caf::make_message(actors::inventory::restock{1}),
       "restock-" + pear);

  std::vector<demo_order> orders{
      {"demo-" + run_id + "-1", {{apple, 2}}, "tok_visa", "confirmed"},
      {"demo-" + run_id + "-2", {{apple, 1}, {pear, 3}}, "tok_visa", "rejected: out of stock"},
      {"demo-" + run_id + "-3", {{apple, 1}}, "tok_decline_card", "cancelled: declined"},
      {"demo-" + run_id + "-4", {{apple, 1}, {pear, 1}}, "tok_visa", "confirmed"},
  };
  std::cout << "\n2. place " << orders.size()
            << " orders (each answered once order_placed is durable)\n";
  for (const auto& o : orders) {
    int64_t amount = 0;
    for (const auto& l : o.lines) {
      amount += 1250 * l.qty;
    }
    auto r = send(node.hosts->order, o.id,
                  caf::make_message(
                      actors::order::place_order{o.id, "customer-42", o.lines, {o.card, amount}}),
                  "place-" + o.id);
    std::cout << "  " << o.id << " (" << o.expect << "): "
              << (r && r->accepted ? "placed, version " + std::to_string(r->version) : "refused")
              << "\n";
  }

  std::cout << "\n3. the sagas run: reserve -> authorize at the PSP -> commit + capture, or "
               "compensate\n";
  auto deadline = std::chrono::steady_clock::now() + 30s;
  std::vector<std::string> outcomes(orders.size());
  std::vector<std::string> reasons(orders.size());
  size_t done = 0;
  while (done < orders.size() && std::chrono::steady_clock::now() < deadline) {
    done = 0;
    for (size_t i = 0; i < orders.size(); ++i) {
      if (outcomes[i].empty()) {
        outcomes[i] = outcome_of(store, orders[i].id, reasons[i]);
      }
      done += outcomes[i].empty() ? 0 : 1;
    }
    std::this_thread::sleep_for(50ms);
  }
  for (size_t i = 0; i < orders.size(); ++i) {
    auto events = store.read_stream("order/" + orders[i].id, 1, 1000);
    std::cout << "  " << orders[i].id << ": "
              << (outcomes[i].empty() ? "still running" : outcomes[i])
              << (reasons[i].empty() ? "" : " (" + reasons[i] + ")") << ", "
              << (events ? events->size() : 0) << " events in order/" << orders[i].id << "\n";
  }
  std::cout << "\n4. stock after the sagas\n";
  for (const auto& sku : {apple, pear}) {
    auto r = send(node.hosts->inventory, sku,
                  caf::make_message(actors::inventory::release{"stock-probe"}),
                  "probe-" + sku + "-" + run_id);
    std::cout << "  " << sku << ": " << (r ? r->summary : "?") << "\n";
  }
  auto stats = psp_server.stats();
  std::cout << "\n5. the PSP charged " << stats.distinct_charges << " card(s), declined "
            << stats.declines << ", served " << stats.requests << " requests\n";

  if (done < orders.size()) {
    std::cerr << "ordermesh: " << orders.size() - done << " saga(s) did not finish in 30 s\n";
    return 1;
  }
  if (loaded.flags.count("once") > 0) {
    std::cout << "\norder demo done.\n";
    return 0;
  }
  std::cout
      << "\nThe node keeps running (sagas, timers, the PSP stand-in) until Ctrl-C.\n"
         "Watch the journal with: psql ... -c \"SELECT global_position, stream_id, event_type "
         "FROM events ORDER BY 1 DESC LIMIT 20\"\n";
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  while (!interrupted) {
    std::this_thread::sleep_for(200ms);
  }
  std::cout << "\nstopped.\n";
  return 0;
}

} // namespace ordermesh::app
