// Journal writer throughput and latency against its ceiling: the best raw writer of the same rows
// (K concurrent connections of multi-row INSERTs), on the same database, in the same run; and a
// lone append's latency against a raw single-row commit.
// Run through bench/event-store, which starts a private PostgreSQL and builds this.

#include "config/loader.hpp"
#include "core/actor_system.hpp"
#include "persistence/journal.hpp"
#include "persistence/pg_event_store.hpp"

#include <caf/all.hpp>
#include <pqxx/pqxx>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

namespace {

using namespace ordermesh;
using namespace ordermesh::persistence;
using clock_type = std::chrono::steady_clock;
using namespace std::chrono_literals;

struct run_figures {
  int streams = 0;
  double events_per_s = 0;
  double p50_ms = 0;
  double p99_ms = 0;
  double mean_batch = 0;
  double commit_ms = 0;
};

const std::string payload =
    R"({"order_id":"6f1c2a9e-3b7d-4c55-9a51-0d2f7e8b4c11","sku":"sku-000123","qty":2,"unit_price_cents":1999,"currency":"EUR"})";
const std::string metadata =
    R"({"message_id":"7c9e6679-7425-40de-944b-e07fc1f90ae7","correlation_id":"6f1c2a9e-3b7d-4c55-9a51-0d2f7e8b4c11","causation_id":"2b1f0c3e-5a6d-4e7f-8a9b-0c1d2e3f4a5b","traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"})";

double percentile(std::vector<double>& sorted, double p) {
  if (sorted.empty()) {
    return 0;
  }
  auto i = static_cast<size_t>(std::ceil(p * static_cast<double>(sorted.size()))) - 1;
  return sorted[std::min(i, sorted.size() - 1)];
}

struct driver_state {
  std::vector<int64_t> versions;
  std::vector<clock_type::time_point> sent_at;
  std::vector<double> latencies_ms;
  clock_type::time_point deadline;
  uint64_t max_events = 0;
  uint64_t completed = 0;
  int outstanding = 0;
  uint64_t errors = 0;
  std::string prefix;
  caf::response_promise done;
};

using start_atom = caf::atom_constant<caf::atom("start")>;

// N streams, each with one append outstanding at a time (a closed loop, like N entity actors).
caf::behavior driver(caf::stateful_actor<driver_state>* self, journal_actor journal, int streams,
                     std::string prefix) {
  auto send_next = [=](int i) {
    auto& st = self->state;
    st.sent_at[i] = clock_type::now();
    ++st.outstanding;
    self->request(journal, 30s, append_atom::value,
                  stream_append{st.prefix + std::to_string(i),
                                st.versions[i],
                                {new_event{"order.line_added.v1", 1, payload, metadata}}})
        .then(
            [=](const append_result& r) {
              auto& s = self->state;
              --s.outstanding;
              auto now = clock_type::now();
              if (r.status == append_status::committed) {
                s.versions[i] = r.stream_version;
                s.latencies_ms.push_back(
                    std::chrono::duration<double, std::milli>(now - s.sent_at[i]).count());
                ++s.completed;
              } else {
                ++s.errors;
              }
              if (now < s.deadline && s.completed + s.outstanding < s.max_events) {
                self->send(self, caf::ok_atom::value, i);
              } else if (s.outstanding == 0) {
                s.done.deliver(caf::ok_atom::value);
              }
            },
            [=](caf::error&) {
              auto& s = self->state;
              --s.outstanding;
              ++s.errors;
              if (s.outstanding == 0) {
                s.done.deliver(caf::ok_atom::value);
              }
            });
  };
  self->state.versions.assign(static_cast<size_t>(streams), no_stream);
  self->state.sent_at.resize(static_cast<size_t>(streams));
  self->state.prefix = std::move(prefix);
  return {
      [=](start_atom, caf::timespan duration, uint64_t max_events) {
        auto& st = self->state;
        st.deadline = clock_type::now() + duration;
        st.max_events = max_events;
        st.done = self->make_response_promise();
        for (int i = 0; i < streams; ++i) {
          send_next(i);
        }
        return st.done;
      },
      [=](caf::ok_atom, int i) { send_next(i); },
      [=](caf::get_atom) { return self->state.latencies_ms; },
  };
}

journal_stats stats(caf::scoped_actor& self, const journal_actor& j) {
  journal_stats s;
  self->request(j, 10s, caf::get_atom::value, journal_stats_atom::value)
      .receive([&](journal_stats x) { s = x; }, [](caf::error&) {});
  return s;
}

void truncate_events(const config::pg_config& pg) {
  pqxx::connection c{pg_event_store::connection_string(pg)};
  pqxx::nontransaction tx{c};
  tx.exec0("TRUNCATE events");
  tx.exec0("CHECKPOINT");
}

run_figures measure_journal(caf::actor_system& sys, const config::app_config& cfg, int streams,
                            caf::timespan duration, uint64_t max_events) {
  truncate_events(cfg.pg);
  auto journal = spawn_journal(sys, cfg.pg, cfg.journal);
  caf::scoped_actor self{sys};
  auto d = sys.spawn(driver, journal, streams, "bench-" + std::to_string(streams) + "/");
  // Warm up: one append per stream creates the streams and the connection.
  self->request(d, 60s, start_atom::value, caf::timespan{0}, uint64_t{1})
      .receive([](caf::ok_atom) {}, [](caf::error&) {});
  self->request(d, 60s, caf::get_atom::value)
      .receive([](std::vector<double>&) {}, [](caf::error&) {});
  auto before = stats(self, journal);
  std::vector<double> lat_before;
  self->request(d, 60s, caf::get_atom::value)
      .receive([&](std::vector<double>& l) { lat_before = l; }, [](caf::error&) {});
  auto t0 = clock_type::now();
  self->request(d, duration + 60s, start_atom::value, duration, max_events)
      .receive([](caf::ok_atom) {}, [](caf::error& e) { std::cerr << to_string(e) << "\n"; });
  auto elapsed = std::chrono::duration<double>(clock_type::now() - t0).count();
  auto after = stats(self, journal);
  std::vector<double> lat;
  self->request(d, 60s, caf::get_atom::value)
      .receive([&](std::vector<double>& l) { lat = l; }, [](caf::error&) {});
  lat.erase(lat.begin(), lat.begin() + static_cast<long>(std::min(lat.size(), lat_before.size())));
  std::sort(lat.begin(), lat.end());
  run_figures f;
  f.streams = streams;
  f.events_per_s = static_cast<double>(after.events - before.events) / elapsed;
  f.p50_ms = percentile(lat, 0.50);
  f.p99_ms = percentile(lat, 0.99);
  auto batches = after.batches - before.batches;
  f.mean_batch = batches == 0 ? 0
                              : static_cast<double>(after.appends - before.appends) /
                                    static_cast<double>(batches);
  f.commit_ms = batches == 0 ? 0
                             : static_cast<double>(after.commit_us_total - before.commit_us_total) /
                                   static_cast<double>(batches) / 1000.0;
  caf::anon_send_exit(d, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(journal, caf::exit_reason::user_shutdown);
  return f;
}

// One raw writer's statement: `batch` rows of the same shape as the journal's (same table, same
// columns, same sizes), spread over `streams` streams, as a literal multi-row INSERT.
struct raw_rows {
  std::string prefix;
  int streams;
  std::vector<int64_t> versions;
  int next_stream = 0;

  std::string statement(pqxx::connection& c, int batch) {
    std::string sql = "INSERT INTO events (stream_id, stream_version, event_type, schema_version, "
                      "payload, metadata) VALUES ";
    for (int i = 0; i < batch; ++i) {
      auto s = static_cast<size_t>(next_stream);
      next_stream = (next_stream + 1) % streams;
      sql += (i == 0 ? "(" : ",(");
      sql += c.quote(prefix + std::to_string(s)) + "," + std::to_string(++versions[s]) +
             ",'order.line_added.v1',1," + c.quote(payload) + "::jsonb," + c.quote(metadata) +
             "::jsonb)";
    }
    return sql;
  }
};

struct raw_figures {
  int writers = 0;
  int batch = 0;
  double rows_per_s = 0;
};

// The raw writer: `writers` connections, each sending multi-row INSERTs of `batch` rows back to
// back, one commit per statement (autocommit); no journal, no version check, no actor messaging.
raw_figures measure_raw(const config::pg_config& pg, int streams, int writers, int batch,
                        caf::timespan duration) {
  truncate_events(pg);
  std::vector<std::unique_ptr<pqxx::connection>> connections;
  for (int w = 0; w < writers; ++w) {
    connections.push_back(
        std::make_unique<pqxx::connection>(pg_event_store::connection_string(pg)));
  }
  std::atomic<uint64_t> written{0};
  auto t0 = clock_type::now();
  auto deadline = t0 + duration;
  std::vector<std::thread> threads;
  for (int w = 0; w < writers; ++w) {
    threads.emplace_back([&, w] {
      auto& c = *connections[static_cast<size_t>(w)];
      raw_rows rows{"raw-" + std::to_string(streams) + "-" + std::to_string(w) + "/", streams,
                    std::vector<int64_t>(static_cast<size_t>(streams), 0)};
      while (clock_type::now() < deadline) {
        auto sql = rows.statement(c, batch);
        pqxx::nontransaction tx{c};
        tx.exec0(sql);
        written += static_cast<uint64_t>(batch);
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  auto elapsed = std::chrono::duration<double>(clock_type::now() - t0).count();
  return {writers, batch, static_cast<double>(written.load()) / elapsed};
}

// The ceiling at `streams` streams: the best of K = 1, 2, 4, 8 raw writers (at most one per
// stream), each with statements of streams/K rows (the rows the streams have in flight) or of
// `streams` rows (more than the closed loop could ever have in flight), at most 1024.
raw_figures measure_ceiling(const config::pg_config& pg, int streams, caf::timespan duration) {
  raw_figures best;
  for (int writers : {1, 2, 4, 8}) {
    if (writers > streams) {
      break;
    }
    std::set<int> batches{std::min(1024, std::max(1, streams / writers)), std::min(1024, streams)};
    for (int batch : batches) {
      auto f = measure_raw(pg, streams, writers, batch, duration);
      std::printf("    raw: %d writers x %4d-row INSERTs: %9.0f rows/s\n", f.writers, f.batch,
                  f.rows_per_s);
      std::fflush(stdout);
      if (f.rows_per_s > best.rows_per_s) {
        best = f;
      }
    }
  }
  return best;
}

// A lone append against a raw single-row commit, alternating one of each on an otherwise idle
// journal and database, so that both see the same moments of a shared disk: p50s in ms. The
// appends come from a blocking scoped actor (a little slower than an entity's event-based
// request); the raw commit is a literal one-row INSERT in autocommit.
std::pair<double, double> lone_append_against_raw_commit(caf::actor_system& sys,
                                                         const config::app_config& cfg,
                                                         caf::timespan duration) {
  truncate_events(cfg.pg);
  auto journal = spawn_journal(sys, cfg.pg, cfg.journal);
  caf::scoped_actor self{sys};
  pqxx::connection c{pg_event_store::connection_string(cfg.pg)};
  raw_rows rows{"raw-lone/", 1, {0}};
  pg_event_store store{cfg.pg, cfg.journal};
  store.plan_statements_once(); // as the journal's writers do
  int64_t version = no_stream;
  int64_t store_version = no_stream;
  std::vector<double> journal_ms, raw_ms, store_ms;
  auto deadline = clock_type::now() + duration;
  for (int i = 0; clock_type::now() < deadline; ++i) {
    auto sql = rows.statement(c, 1);
    auto t = clock_type::now();
    {
      pqxx::nontransaction tx{c};
      tx.exec0(sql);
    }
    auto raw_done = clock_type::now();
    self->request(journal, 10s, append_atom::value,
                  stream_append{
                      "lone", version, {new_event{"order.line_added.v1", 1, payload, metadata}}})
        .receive([&](const append_result& r) { version = r.stream_version; }, [](caf::error&) {});
    auto journal_done = clock_type::now();
    if (auto r =
            store.append({stream_append{"lone-store",
                                        store_version,
                                        {new_event{"order.line_added.v1", 1, payload, metadata}}}});
        r) {
      store_version = r->front().stream_version;
    }
    auto store_done = clock_type::now();
    if (i >= 20) { // the first ones connect and prepare
      store_ms.push_back(
          std::chrono::duration<double, std::milli>(store_done - journal_done).count());
      raw_ms.push_back(std::chrono::duration<double, std::milli>(raw_done - t).count());
      journal_ms.push_back(
          std::chrono::duration<double, std::milli>(journal_done - raw_done).count());
    }
  }
  caf::anon_send_exit(journal, caf::exit_reason::user_shutdown);
  std::sort(journal_ms.begin(), journal_ms.end());
  std::sort(raw_ms.begin(), raw_ms.end());
  std::sort(store_ms.begin(), store_ms.end());
  std::printf("lone: journal append p50 %.3f ms, its statement alone (pg_event_store::append on "
              "this thread) p50 %.3f ms, raw single-row commit p50 %.3f ms (%zu of each)\n",
              percentile(journal_ms, 0.5), percentile(store_ms, 0.5), percentile(raw_ms, 0.5),
              raw_ms.size());
  return {percentile(journal_ms, 0.5), percentile(raw_ms, 0.5)};
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
  auto seconds = std::getenv("OM_BENCH_SECONDS") ? std::atoi(std::getenv("OM_BENCH_SECONDS")) : 8;
  auto duration = caf::timespan{std::chrono::seconds(std::max(1, seconds))};
  const uint64_t max_events = 2'000'000; // a bound on each run besides its duration

  {
    pg_event_store store{cfg.pg, cfg.journal};
    auto m = store.migrate();
    if (!m) {
      std::cerr << "bench: " << m.error().detail << "\n";
      return 1;
    }
  }
  caf::actor_system_config caf_cfg;
  core::configure(caf_cfg);
  caf::actor_system sys{caf_cfg};

  // The box may be shared: the journal and its ceiling are measured in alternating rounds, so
  // that a busy moment weighs on both. The sweep that picks the ceiling's shape uses short runs.
  constexpr int rounds = 3;
  auto round_duration =
      caf::timespan{std::chrono::milliseconds(std::max(1, seconds) * 1000 / rounds)};
  auto sweep_duration = caf::timespan{std::chrono::seconds(2)};
  std::vector<int> stream_counts;
  {
    std::string list =
        std::getenv("OM_BENCH_STREAMS") ? std::getenv("OM_BENCH_STREAMS") : "1,64,1024";
    std::stringstream in{list};
    for (std::string item; std::getline(in, item, ',');) {
      stream_counts.push_back(std::max(1, std::atoi(item.c_str())));
    }
  }
  bool journal_only = std::getenv("OM_BENCH_JOURNAL_ONLY") != nullptr;

  std::printf("event-store benchmark: %d rounds of %.1f s (journal, then its ceiling) per stream "
              "count, one event per append, journal.max_batch=%u journal.writers=%u\n",
              rounds, std::chrono::duration<double>(round_duration).count(), cfg.journal.max_batch,
              cfg.journal.writers);
  std::vector<std::pair<run_figures, raw_figures>> rows;
  double lone_p50 = 0;
  double raw_p50 = 0;
  if (!journal_only) {
    std::tie(lone_p50, raw_p50) = lone_append_against_raw_commit(sys, cfg, duration);
  }
  for (int streams : stream_counts) {
    raw_figures ceiling;
    if (!journal_only) {
      ceiling = measure_ceiling(cfg.pg, streams, sweep_duration);
      ceiling.rows_per_s = 0;
    }
    run_figures f;
    std::vector<double> p50s, p99s;
    for (int round = 0; round < rounds; ++round) {
      auto r = measure_journal(sys, cfg, streams, round_duration, max_events);
      f.streams = streams;
      f.events_per_s += r.events_per_s / rounds;
      f.mean_batch += r.mean_batch / rounds;
      f.commit_ms += r.commit_ms / rounds;
      p50s.push_back(r.p50_ms);
      p99s.push_back(r.p99_ms);
      if (!journal_only) {
        ceiling.rows_per_s +=
            measure_raw(cfg.pg, streams, ceiling.writers, ceiling.batch, round_duration)
                .rows_per_s /
            rounds;
      }
    }
    std::sort(p50s.begin(), p50s.end());
    std::sort(p99s.begin(), p99s.end());
    f.p50_ms = percentile(p50s, 0.5);
    f.p99_ms = percentile(p99s, 0.5);
    std::printf("  %d streams: journal %.0f events/s (rounds' median p50 %.2f ms, p99 %.2f ms), "
                "ceiling %dx%d %.0f rows/s\n",
                streams, f.events_per_s, f.p50_ms, f.p99_ms, ceiling.writers, ceiling.batch,
                ceiling.rows_per_s);
    std::fflush(stdout);
    rows.emplace_back(f, ceiling);
  }
  std::printf("\n%8s %12s %9s %9s %10s %10s %16s %14s %8s\n", "streams", "events/s", "p50_ms",
              "p99_ms", "mean_batch", "commit_ms", "ceiling(KxB)", "ceiling_rows/s", "ratio");
  for (const auto& [f, c] : rows) {
    auto shape = std::to_string(c.writers) + "x" + std::to_string(c.batch);
    std::printf("%8d %12.0f %9.2f %9.2f %10.1f %10.2f %16s %14.0f %8.2f\n", f.streams,
                f.events_per_s, f.p50_ms, f.p99_ms, f.mean_batch, f.commit_ms, shape.c_str(),
                c.rows_per_s, c.rows_per_s > 0 ? f.events_per_s / c.rows_per_s : 0.0);
  }
  std::printf("ceiling: the best raw writer of the same rows: K = 1, 2, 4, 8 connections (K <= "
              "streams) of multi-row INSERTs (streams/K or streams rows, at most 1024), one commit "
              "per statement, same database\n");
  std::printf("lone append p50 %.3f ms against a raw single-row commit p50 %.3f ms (+%.3f ms; "
              "one of each in turn for the length of a run)\n",
              lone_p50, raw_p50, lone_p50 - raw_p50);
  std::printf("targets: ceiling_ratio >= 0.7 at 1024 streams; lone append p50 within 0.3 ms of a "
              "raw single-row commit; single-stream p99 < 10 ms\n");
  const auto& [last, last_ceiling] = rows.back();
  std::printf(
      "events_per_s=%.0f ceiling_ratio=%.2f lone_append_p50_ms=%.3f raw_commit_p50_ms=%.3f\n",
      last.events_per_s,
      last_ceiling.rows_per_s > 0 ? last.events_per_s / last_ceiling.rows_per_s : 0.0, lone_p50,
      raw_p50);
  return 0;
}
