// `ordermesh standalone`: one node (entity hosts, journal, projections) and the HTTP gateway in
// one process, serving until SIGINT or SIGTERM.

#include "actors/system.hpp"
#include "app/commands.hpp"
#include "core/actor_system.hpp"
#include "gateway/api.hpp"
#include "gateway/http_server.hpp"
#include "observability/log.hpp"
#include "observability/metrics.hpp"
#include "persistence/pg_event_store.hpp"
#include "read_models/projection_runner.hpp"

#include <caf/all.hpp>

#include <atomic>
#include <csignal>
#include <iostream>
#include <memory>
#include <thread>

namespace ordermesh::app {

namespace {

std::atomic<bool> stop_requested{false};

void on_stop_signal(int) {
  stop_requested = true;
}

using namespace std::chrono_literals;
using samples = std::vector<observability::callback_sample>;

/// Node-side metrics: the journal writer's batches, the entities' mailboxes and the projection's
/// progress. Every callback reads what the components keep current (node_gauges, the runner's
/// atomics): a scrape asks no actor.
void add_node_metrics(observability::metrics_registry& metrics, const actors::node_actors& node) {
  using gauge_field = std::atomic<uint64_t> actors::node_gauges::*;
  auto from_gauges = [&](const char* name, const char* help, observability::callback_type type,
                         gauge_field field, double scale = 1) {
    metrics.add_callback_family(name, help, type, {}, [gauges = node.gauges, field, scale] {
      return samples{{{}, double(((*gauges).*field).load()) * scale}};
    });
  };
  const auto counter = observability::callback_type::counter;
  from_gauges("ordermesh_journal_batches_total", "Batches the journal writer committed.", counter,
              &actors::node_gauges::journal_batches);
  from_gauges("ordermesh_journal_events_total", "Events the journal writer committed.", counter,
              &actors::node_gauges::journal_events);
  from_gauges("ordermesh_journal_conflicts_total", "Appends refused as version conflicts.", counter,
              &actors::node_gauges::journal_conflicts);
  from_gauges("ordermesh_journal_failed_total", "Appends answered with an error.", counter,
              &actors::node_gauges::journal_failed);
  from_gauges("ordermesh_journal_commit_seconds_total",
              "Time spent in commit round trips (divide by batches for the mean).", counter,
              &actors::node_gauges::journal_commit_us, 1e-6);
  from_gauges("ordermesh_journal_largest_batch", "Most appends committed in one batch since start.",
              observability::callback_type::gauge, &actors::node_gauges::journal_largest_batch);
  metrics.add_callback_family(
      "ordermesh_entity_mailbox_depth",
      "Commands waiting for the entities of a kind: handed to them and not answered yet, or kept "
      "by their host while they restart or passivate (refreshed every second).",
      observability::callback_type::gauge, {"kind"}, [gauges = node.gauges] {
        return samples{{{"order"}, double(gauges->mailbox_order.load())},
                       {{"inventory"}, double(gauges->mailbox_inventory.load())},
                       {{"payment"}, double(gauges->mailbox_payment.load())},
                       {{"notification"}, double(gauges->mailbox_notification.load())}};
      });
  metrics.add_callback_family(
      "ordermesh_core_restarts_total",
      "Restarts of the node's core components (journal writer, reader, PSP gateway).", counter, {},
      [status = node.status] {
        return samples{{{}, double(status->restarts.load())}};
      });
  metrics.add_callback_family(
      "ordermesh_store_reachable",
      "1 when the component's last statement reached PostgreSQL (journal writer, reader).",
      observability::callback_type::gauge, {"component"}, [status = node.status] {
        auto reachable = [](const std::shared_ptr<const persistence::store_health>& h) {
          return h && h->running() && h->reachable() ? 1.0 : 0.0;
        };
        return samples{{{"journal"}, reachable(status->journal_health())},
                       {{"reader"}, reachable(status->reader_health())}};
      });
  metrics.add_callback_family(
      "ordermesh_store_consecutive_failures",
      "Statements in a row that did not reach PostgreSQL (journal writer, reader).",
      observability::callback_type::gauge, {"component"}, [status = node.status] {
        auto failures = [](const std::shared_ptr<const persistence::store_health>& h) {
          return h ? double(h->consecutive_failures()) : 0.0;
        };
        return samples{{{"journal"}, failures(status->journal_health())},
                       {{"reader"}, failures(status->reader_health())}};
      });
}

/// The runner's pacing from the configuration.
read_models::projection_runner_settings projection_settings(const config::projection_config& c) {
  read_models::projection_runner_settings s;
  s.poll_interval = c.poll_interval;
  s.page_size = static_cast<int32_t>(c.page_size); // at most 100 000 (config/loader.cpp)
  return s;
}

/// The projection's progress.
void add_projection_metrics(observability::metrics_registry& metrics,
                            const read_models::projection_runner& runner) {
  metrics.add_callback_family(
      "ordermesh_projection_lag_events", "Events appended but not yet in the read models.",
      observability::callback_type::gauge, {}, [&runner] {
        return std::vector<observability::callback_sample>{{{}, double(runner.stats().lag)}};
      });
  metrics.add_callback_family("ordermesh_projection_events_total",
                              "Events applied to the read models since start.",
                              observability::callback_type::counter, {}, [&runner] {
                                return std::vector<observability::callback_sample>{
                                    {{}, double(runner.stats().events_applied)}};
                              });
  metrics.add_callback_family(
      "ordermesh_projection_errors_total", "Failed projection attempts (the runner backs off).",
      observability::callback_type::counter, {}, [&runner] {
        return std::vector<observability::callback_sample>{{{}, double(runner.stats().errors)}};
      });
}

void add_settlement_metrics(observability::metrics_registry& metrics,
                            std::shared_ptr<const actors::settlement_runner> runner) {
  auto family = [&](const char* name, const char* help, observability::callback_type type,
                    auto figure) {
    metrics.add_callback_family(name, help, type, {}, [runner, figure] {
      return std::vector<observability::callback_sample>{{{}, double(figure(runner->stats()))}};
    });
  };
  using stats = actors::settlement_stats;
  family("ordermesh_settlement_lag_events", "Events appended after the settlement's checkpoint.",
         observability::callback_type::gauge, [](const stats& s) { return s.lag; });
  family("ordermesh_settlement_orders_total",
         "Order ids settled by the settlement runner (once per SKU; again after a restart).",
         observability::callback_type::counter, [](const stats& s) { return s.orders_settled; });
  family("ordermesh_settlement_commands_total", "settle_orders answered, one per SKU and round.",
         observability::callback_type::counter, [](const stats& s) { return s.commands; });
  family("ordermesh_settlement_notifications_total",
         "Confirmed sales notified by the settlement runner (again after a restart).",
         observability::callback_type::counter, [](const stats& s) { return s.notifications; });
  family("ordermesh_settlement_errors_total",
         "Failed settlement attempts (reads, checkpoint saves, settle_orders, notifications; "
         "retried).",
         observability::callback_type::counter, [](const stats& s) { return s.errors; });
  family("ordermesh_settlement_skipped_skus_total",
         "SKUs skipped after failing every attempt of a round (their orders stay kept there).",
         observability::callback_type::counter, [](const stats& s) { return s.skus_skipped; });
  family("ordermesh_settlement_skipped_notifications_total",
         "Notifications skipped (refused, or after failing every attempt of a round).",
         observability::callback_type::counter,
         [](const stats& s) { return s.notifications_skipped; });
}

/// Stops `a` and returns once it has ended (at most a few seconds): it calls into objects of the
/// caller's stack.
void stop_and_wait(caf::actor_system& sys, const caf::actor& a) {
  caf::scoped_actor self{sys};
  self->monitor(a);
  self->send_exit(a, caf::exit_reason::user_shutdown);
  self->receive([](caf::down_msg&) {}, caf::after(std::chrono::seconds(5)) >> [] {});
}

} // namespace

int run_standalone(const config::loaded_config& loaded) {
  const auto& cfg = loaded.values;
  {
    persistence::pg_event_store store{cfg.pg, cfg.journal};
    if (auto m = store.migrate(); !m) {
      std::cerr << "ordermesh: cannot prepare the event store: " << m.error().detail << "\n";
      return 1;
    }
  }
  std::signal(SIGINT, on_stop_signal);
  std::signal(SIGTERM, on_stop_signal);

  caf::actor_system_config caf_cfg;
  core::configure(caf_cfg);
  caf::actor_system sys{caf_cfg};
  auto node = actors::start_node_actors(sys, cfg);
  std::atomic<bool> serving{true};

  observability::metrics_registry metrics;
  std::unique_ptr<read_models::projection_runner> runner;
  gateway::gateway_api api{
      sys, node.hosts, cfg, metrics, [&] {
        if (!runner) {
          // No projection: PostgreSQL as the journal writer last saw it.
          auto j = node.status->journal_health();
          return gateway::node_health{
              j && j->reachable(),       serving.load(), 0, false, node.status->down(),
              node.status->unreachable()};
        }
        auto s = runner->stats();
        return gateway::node_health{!s.database_unreachable,
                                    serving.load(),
                                    s.lag,
                                    s.failing && !s.database_unreachable,
                                    node.status->down(),
                                    node.status->unreachable()};
      }};
  add_node_metrics(metrics, node);
  add_settlement_metrics(metrics, node.settlement);
  // The orders' ends reach the waiting requests from the orders themselves; the projection (if
  // any) may tell the same again, which is harmless.
  auto completions = sys.spawn([&api](caf::event_based_actor*) -> caf::behavior {
    return {[&api](const actors::order::order_completed& done) { api.on_order_completed(done); }};
  });
  node.hosts->order_completions->add(completions);
  if (cfg.projection.enabled) {
    runner = std::make_unique<read_models::projection_runner>(
        cfg.pg, projection_settings(cfg.projection),
        [&api](const read_models::projection_changes& changes) { api.on_projection(changes); });
    add_projection_metrics(metrics, *runner);
  }

  if (auto woken = actors::resume_unfinished_orders(sys, node); !woken) {
    observability::log_event(spdlog::level::warn, "unfinished sagas not resumed",
                             {{"error", sys.render(woken.error())}});
  } else if (*woken > 0) {
    observability::log_event(spdlog::level::info, "unfinished sagas resumed", {{"orders", *woken}});
  }

  gateway::http_server server{cfg.gateway, api.routes()};
  if (auto err = server.start()) {
    std::cerr << "ordermesh: the gateway cannot listen on " << cfg.gateway.host << ":"
              << cfg.gateway.port << ": " << *err << "\n";
    if (runner) {
      runner->stop();
    }
    node.hosts->order_completions->remove(completions);
    stop_and_wait(sys, completions);
    node.stop();
    return 1;
  }
  const auto url = "http://" + cfg.gateway.host + ":" + std::to_string(server.port());
  observability::log_event(spdlog::level::info, "standalone serving",
                           {{"url", url},
                            {"psp", cfg.psp.host + ":" + std::to_string(cfg.psp.port)},
                            {"database", cfg.pg.dbname}});
  std::cout << "ordermesh standalone: serving " << url << " (Ctrl-C stops)" << std::endl;

  // An entity host that ended took the commands it held with it (their callers wait without a
  // timeout): the node stops, for its supervisor to start a fresh one.
  while (!stop_requested && node.status->hosts) {
    std::this_thread::sleep_for(std::chrono::milliseconds{100});
  }
  const bool host_lost = !node.status->hosts;
  // Reverse order of dependencies: no new requests, then no more blocking work, then no more
  // projection callbacks, then the actors.
  observability::log_event(spdlog::level::info, "standalone stopping",
                           {{"entity_host_lost", host_lost}});
  serving = false;
  api.release_waiters();
  server.stop();
  api.stop();
  if (runner) {
    runner->stop();
  }
  node.hosts->order_completions->remove(completions);
  stop_and_wait(sys, completions);
  node.stop();
  if (host_lost) {
    std::cerr << "ordermesh standalone: stopped because an entity host ended (see the log)\n";
    return 1;
  }
  std::cout << "ordermesh standalone: stopped" << std::endl;
  return 0;
}

} // namespace ordermesh::app
