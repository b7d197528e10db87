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
#include "persistence/projection_runner.hpp"

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

/// The journal writer's counters, asked at scrape time (a worker thread, never an io thread).
std::optional<persistence::journal_stats> journal_stats(caf::actor_system& sys,
                                                        const persistence::journal_actor& journal) {
  std::optional<persistence::journal_stats> out;
  caf::scoped_actor self{sys};
  self->request(journal, 500ms, caf::get_atom::value, persistence::journal_stats_atom::value)
      .receive([&](persistence::journal_stats& s) { out = s; }, [](caf::error&) {});
  return out;
}

/// Node-side metrics: the journal writer's batches, the entities' mailboxes and the projection's
/// progress.
void add_node_metrics(observability::metrics_registry& metrics, caf::actor_system& sys,
                      const actors::node_actors& node,
                      const persistence::projection_runner& runner) {
  auto journal_counter = [&](const char* name, const char* help, auto field) {
    metrics.add_callback_family(name, help, observability::callback_type::counter, {},
                                [&sys, journal = node.journal, field] {
                                  auto s = journal_stats(sys, journal);
                                  return s ? samples{{{}, double(field(*s))}} : samples{};
                                });
  };
  journal_counter("ordermesh_journal_batches_total", "Batches the journal writer committed.",
                  [](const auto& s) { return s.batches; });
  journal_counter("ordermesh_journal_events_total", "Events the journal writer committed.",
                  [](const auto& s) { return s.events; });
  journal_counter("ordermesh_journal_conflicts_total", "Appends refused as version conflicts.",
                  [](const auto& s) { return s.conflicts; });
  journal_counter("ordermesh_journal_failed_total", "Appends answered with an error.",
                  [](const auto& s) { return s.failed; });
  journal_counter("ordermesh_journal_commit_seconds_total",
                  "Time spent in commit round trips (divide by batches for the mean).",
                  [](const auto& s) { return double(s.commit_us_total) / 1e6; });
  metrics.add_callback_family(
      "ordermesh_journal_largest_batch", "Most appends committed in one batch since start.",
      observability::callback_type::gauge, {}, [&sys, journal = node.journal] {
        auto s = journal_stats(sys, journal);
        return s ? samples{{{}, double(s->largest_batch)}} : samples{};
      });
  metrics.add_callback_family(
      "ordermesh_entity_mailbox_depth",
      "Commands waiting at the active entities of a kind (mailboxes, queues, kept by the host).",
      observability::callback_type::gauge, {"kind"}, [&sys, hosts = node.hosts] {
        samples out;
        caf::scoped_actor self{sys};
        const std::pair<const char*, caf::actor> kinds[] = {{"order", hosts->order},
                                                            {"inventory", hosts->inventory},
                                                            {"payment", hosts->payment},
                                                            {"notification", hosts->notification}};
        for (const auto& [kind, host] : kinds) {
          self->request(host, 500ms, caf::get_atom::value, actors::shard::entities_atom::value)
              .receive(
                  [&, kind = kind](std::vector<actors::shard::entity_info>& entities) {
                    double depth = 0;
                    for (const auto& e : entities) {
                      depth += double(e.mailbox_depth);
                    }
                    out.push_back({{kind}, depth});
                  },
                  [](caf::error&) {});
        }
        return out;
      });
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
  std::unique_ptr<persistence::projection_runner> runner;
  gateway::gateway_api api{sys, node.hosts, cfg, metrics, [&] {
                             auto s = runner->stats();
                             return gateway::node_health{!s.database_unreachable, serving.load(),
                                                         s.lag,
                                                         s.failing && !s.database_unreachable};
                           }};
  runner = std::make_unique<persistence::projection_runner>(
      cfg.pg, persistence::projection_runner_settings{},
      [&api](const persistence::projection_changes& changes) { api.on_projection(changes); });
  add_node_metrics(metrics, sys, node, *runner);

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
    runner->stop();
    node.stop();
    return 1;
  }
  const auto url = "http://" + cfg.gateway.host + ":" + std::to_string(server.port());
  observability::log_event(spdlog::level::info, "standalone serving",
                           {{"url", url},
                            {"psp", cfg.psp.host + ":" + std::to_string(cfg.psp.port)},
                            {"database", cfg.pg.dbname}});
  std::cout << "ordermesh standalone: serving " << url << " (Ctrl-C stops)" << std::endl;

  while (!stop_requested) {
    std::this_thread::sleep_for(std::chrono::milliseconds{100});
  }
  // Reverse order of dependencies: no new requests, then no more blocking work, then no more
  // projection callbacks, then the actors.
  observability::log_event(spdlog::level::info, "standalone stopping", {});
  serving = false;
  api.release_waiters();
  server.stop();
  api.stop();
  runner->stop();
  node.stop();
  std::cout << "ordermesh standalone: stopped" << std::endl;
  return 0;
}

} // namespace ordermesh::app
