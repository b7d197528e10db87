#include "app/commands.hpp"
#include "core/actor_system.hpp"
#include "persistence/journal.hpp"
#include "persistence/pg_event_store.hpp"
#include "persistence/subscription.hpp"

#include <caf/all.hpp>
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <csignal>
#include <iostream>
#include <random>
#include <thread>

namespace ordermesh::app {

namespace {

using namespace persistence;
using namespace std::chrono_literals;

std::atomic<bool> interrupted{false};

void on_signal(int) {
  interrupted = true;
}

std::string random_suffix() {
  std::random_device rd;
  std::mt19937_64 gen{rd()};
  static const char* hex = "0123456789abcdef";
  std::string s;
  for (int i = 0; i < 12; ++i) {
    s += hex[gen() % 16];
  }
  return s;
}

new_event demo_event(const std::string& type, nlohmann::json payload, const std::string& order) {
  nlohmann::json metadata{{"message_id", "msg-" + random_suffix()}, {"correlation_id", order}};
  return new_event{type, 1, payload.dump(), metadata.dump()};
}

std::string describe(const append_result& r) {
  if (r.status == append_status::committed) {
    return "committed: stream version " + std::to_string(r.stream_version) + ", positions " +
           std::to_string(r.first_position) + ".." + std::to_string(r.last_position);
  }
  return "version conflict: the stream is at version " + std::to_string(r.stream_version) +
         ", nothing written";
}

/// Sends one append through the journal and waits for its answer.
bool append_and_print(caf::scoped_actor& self, const journal_actor& journal, stream_append a,
                      const std::string& label) {
  bool ok = true;
  self->request(journal, 10s, append_atom::value, std::move(a))
      .receive(
          [&](const append_result& r) {
            std::cout << "  " << label << ": " << describe(r) << "\n";
          },
          [&](const caf::error& e) {
            std::cout << "  " << label << ": failed: " << self->system().render(e) << "\n";
            ok = false;
          });
  return ok;
}

void print_event(const recorded_event& e) {
  std::cout << "  #" << e.global_position << "  " << e.stream_id << " v" << e.stream_version << "  "
            << e.type << "  " << e.payload << "\n";
}

} // namespace

int run_migrate(const config::loaded_config& cfg) {
  pg_event_store store{cfg.values.pg, cfg.values.journal};
  auto applied = store.migrate();
  if (!applied) {
    std::cerr << "ordermesh migrate: " << applied.error().detail << "\n";
    return 1;
  }
  std::cout << "migrations applied: " << applied->size() << "\n";
  return 0;
}

int run_event_store_demo(const config::loaded_config& cfg) {
  const auto& pg = cfg.values.pg;
  std::cout << "ordermesh event-store demo against postgresql://" << pg.user << "@" << pg.host
            << ":" << pg.port << "/" << pg.dbname << "\n\n";
  pg_event_store store{pg, cfg.values.journal};
  auto applied = store.migrate();
  if (!applied) {
    std::cerr << "ordermesh: cannot prepare the event store: " << applied.error().detail << "\n";
    return 1;
  }
  std::cout << "1. schema: " << applied->size() << " migration(s) applied now\n";

  caf::actor_system_config caf_cfg;
  core::configure(caf_cfg);
  caf::actor_system sys{caf_cfg};
  auto journal = spawn_journal(sys, pg, cfg.values.journal);
  auto stop_journal = caf::detail::make_scope_guard(
      [&] { caf::anon_send_exit(journal, caf::exit_reason::user_shutdown); });
  caf::scoped_actor self{sys};

  auto order = "order/" + random_suffix();
  auto started_at = store.log_end();
  auto start_position = started_at ? *started_at : log_checkpoint{};

  std::cout << "\n2. append three events to " << order << " through the journal writer\n";
  stream_append placed{order,
                       no_stream,
                       {demo_event("order.placed.v1", {{"customer", "c-42"}}, order),
                        demo_event("order.line_added.v1", {{"sku", "sku-1"}, {"qty", 2}}, order),
                        demo_event("order.line_added.v1", {{"sku", "sku-7"}, {"qty", 1}}, order)}};
  if (!append_and_print(self, journal, placed, "expected version 0")) {
    return 1;
  }

  std::cout << "\n3. a stale writer still believes the stream is new\n";
  stream_append stale{order, no_stream, {demo_event("order.cancelled.v1", {}, order)}};
  if (!append_and_print(self, journal, stale, "expected version 0")) {
    return 1;
  }

  std::cout << "\n4. 500 streams append at once: group commit\n";
  journal_stats before;
  self->request(journal, 5s, caf::get_atom::value, journal_stats_atom::value)
      .receive([&](journal_stats s) { before = s; }, [](caf::error&) {});
  auto burst_started = std::chrono::steady_clock::now();
  for (int i = 0; i < 500; ++i) {
    auto stream = "counter/" + random_suffix();
    self->send(
        journal, append_atom::value,
        stream_append{stream, no_stream, {demo_event("counter.added.v1", {{"n", i}}, stream)}});
  }
  int committed = 0;
  int failed = 0;
  for (int i = 0; i < 500; ++i) {
    self->receive([&](const append_result&) { ++committed; }, [&](const caf::error&) { ++failed; },
                  caf::after(30s) >> [&] { ++failed; });
  }
  auto burst_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - burst_started)
                      .count();
  journal_stats after;
  self->request(journal, 5s, caf::get_atom::value, journal_stats_atom::value)
      .receive([&](journal_stats s) { after = s; }, [](caf::error&) {});
  auto batches = after.batches - before.batches;
  std::cout << "  " << committed << " committed, " << failed << " failed in " << burst_ms << " ms, "
            << batches << " transactions, mean batch "
            << (batches > 0 ? (after.appends - before.appends) / batches : 0) << ", largest "
            << after.largest_batch << "\n";

  std::cout << "\n5. read " << order << " back, snapshot it, recover from the snapshot\n";
  auto events = store.read_stream(order, 1, 100);
  if (!events) {
    std::cerr << "ordermesh: " << events.error().detail << "\n";
    return 1;
  }
  for (const auto& e : *events) {
    print_event(e);
  }
  int lines = 0;
  for (const auto& e : *events) {
    lines += e.type == "order.line_added.v1" ? 1 : 0;
  }
  store.save_snapshot({order, events->back().stream_version, "order.state.v1", 1,
                       nlohmann::json{{"lines", lines}}.dump()});
  auto snap = store.load_snapshot(order);
  if (snap && snap->has_value()) {
    auto later = store.read_stream(order, (*snap)->stream_version + 1, 100);
    std::cout << "  snapshot at version " << (*snap)->stream_version << " " << (*snap)->payload
              << " + " << (later ? later->size() : 0) << " later event(s)\n";
  }

  std::cout << "\n6. a subscription tails the global log from position " << start_position.position
            << " (gap-safe: it never skips an event that commits late)\n";
  subscription tail{store, start_position};
  size_t seen = 0;
  for (int round = 0; round < 100; ++round) {
    auto got = tail.poll(1000);
    if (!got) {
      std::cerr << "ordermesh: " << got.error().detail << "\n";
      return 1;
    }
    seen += got->size();
    if (got->empty() && seen >= static_cast<size_t>(3 + committed)) {
      break;
    }
  }
  std::cout << "  delivered " << seen << " events in order, checkpoint now "
            << tail.checkpoint().position << "\n";

  if (cfg.flags.count("once") > 0) {
    std::cout << "\ndemo done.\n";
    return 0;
  }
  std::cout << "\nTailing new events until Ctrl-C. Append some with:\n"
            << "  psql 'host=" << pg.host << " port=" << pg.port << " dbname=" << pg.dbname
            << " user=" << pg.user
            << "' -c \"INSERT INTO events (stream_id, stream_version, "
               "event_type, payload) VALUES ('hand/1', 1, 'hand.made.v1', '{}')\"\n"
            << "  (password: the file named by ORDERMESH_PG_PASSWORD_FILE)\n";
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  while (!interrupted) {
    auto got = tail.poll(1000);
    if (got) {
      for (const auto& e : *got) {
        print_event(e);
      }
    } else {
      std::cout << "  (store: " << got.error().detail << ")\n";
    }
    std::this_thread::sleep_for(200ms);
  }
  std::cout << "\nstopped.\n";
  return 0;
}

} // namespace ordermesh::app
