#include "persistence/journal.hpp"

#include "core/type_ids.hpp"
#include "observability/log.hpp"
#include "persistence/pg_event_store.hpp"
#include "util/fail_point.hpp"

#include <caf/all.hpp>

#include <chrono>
#include <deque>
#include <memory>
#include <unordered_set>

namespace ordermesh::persistence {

namespace {

using commit_atom = caf::atom_constant<caf::atom("commit")>;

/// The blocking half: owns the connection, runs on its own thread.
using journal_worker = caf::typed_actor<
    caf::replies_to<commit_atom, std::vector<stream_append>>::with<std::vector<append_result>>>;

struct worker_state {
  std::unique_ptr<pg_event_store> store;
  /// Failed batches since the last success (logged on the way in and out, not per batch).
  uint64_t failed_batches = 0;
};

journal_worker::behavior_type worker_impl(journal_worker::stateful_pointer<worker_state> self,
                                          config::pg_config pg, config::journal_config journal) {
  self->state.store = std::make_unique<pg_event_store>(std::move(pg), journal);
  return {
      [=](commit_atom,
          const std::vector<stream_append>& batch) -> caf::result<std::vector<append_result>> {
        auto& st = self->state;
        auto results = st.store->append(batch);
        if (!results) {
          if (st.failed_batches++ == 0) {
            observability::log_event(spdlog::level::warn, "journal commits failing",
                                     {{"error", to_string(results.error().code)},
                                      {"detail", results.error().detail},
                                      {"batch", batch.size()}});
          }
          return caf::make_error(results.error().code, results.error().detail);
        }
        if (st.failed_batches > 0) {
          observability::log_event(spdlog::level::info, "journal commits succeed again",
                                   {{"failed_batches", st.failed_batches}});
          st.failed_batches = 0;
        }
        return std::move(*results);
      },
  };
}

struct waiting_append {
  stream_append request;
  caf::typed_response_promise<append_result> promise;
};

struct journal_state {
  config::journal_config config;
  journal_worker worker;
  std::deque<waiting_append> waiting;
  bool in_flight = false;
  journal_stats stats;
};

using journal_pointer = journal_actor::stateful_pointer<journal_state>;

// A commit that has not answered within this time is reported as outcome_unknown; libpq's
// keepalives normally notice a dead server long before.
constexpr auto commit_timeout = std::chrono::seconds(60);

void dispatch(journal_pointer self) {
  auto& st = self->state;
  if (st.in_flight || st.waiting.empty()) {
    return;
  }
  std::vector<stream_append> batch;
  std::vector<caf::typed_response_promise<append_result>> promises;
  std::unordered_set<std::string> streams;
  // A second append to a stream already in this batch waits for the next one: its expected version
  // depends on the first one's outcome. Scanning is bounded so a hot stream cannot make it O(n^2).
  size_t scan_limit = static_cast<size_t>(st.config.max_batch) * 4;
  for (auto it = st.waiting.begin();
       it != st.waiting.end() && batch.size() < st.config.max_batch && scan_limit > 0;
       --scan_limit) {
    if (!streams.insert(it->request.stream_id).second) {
      ++it;
      continue;
    }
    batch.push_back(std::move(it->request));
    promises.push_back(std::move(it->promise));
    it = st.waiting.erase(it);
  }
  st.in_flight = true;
  auto started = std::chrono::steady_clock::now();
  auto event_count = uint64_t{0};
  for (const auto& req : batch) {
    event_count += req.events.size();
  }
  auto finish = [=](auto deliver_all) {
    auto& s = self->state;
    auto us = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                        std::chrono::steady_clock::now() - started)
                                        .count());
    s.stats.batches += 1;
    s.stats.commit_us_total += us;
    s.stats.commit_us_max = std::max(s.stats.commit_us_max, us);
    s.stats.largest_batch =
        std::max<uint32_t>(s.stats.largest_batch, static_cast<uint32_t>(promises.size()));
    deliver_all();
    s.in_flight = false;
    dispatch(self);
  };
  self->request(st.worker, commit_timeout, commit_atom::value, std::move(batch))
      .then(
          [=](std::vector<append_result>& results) mutable {
            util::fail_point("journal.committed_before_reply");
            finish([&] {
              auto& s = self->state.stats;
              for (size_t i = 0; i < promises.size(); ++i) {
                if (results[i].status == append_status::committed) {
                  s.appends += 1;
                } else {
                  s.conflicts += 1;
                }
                promises[i].deliver(results[i]);
              }
              s.events += event_count;
            });
          },
          [=](caf::error& err) mutable {
            finish([&] {
              if (err == caf::sec::request_timeout) {
                err = caf::make_error(store_errc::outcome_unknown,
                                      "commit did not answer within 60 s");
              }
              self->state.stats.failed += promises.size();
              for (auto& p : promises) {
                p.deliver(err);
              }
            });
          });
}

journal_actor::behavior_type journal_impl(journal_pointer self, config::pg_config pg,
                                          config::journal_config journal) {
  self->state.config = journal;
  self->state.worker = self->system().spawn<caf::detached>(worker_impl, std::move(pg), journal);
  self->link_to(self->state.worker);
  return {
      [=](append_atom, stream_append& request) -> caf::result<append_result> {
        auto& st = self->state;
        if (st.waiting.size() >= st.config.max_pending) {
          st.stats.failed += 1;
          return caf::make_error(store_errc::overloaded,
                                 std::to_string(st.waiting.size()) + " appends already waiting");
        }
        auto promise = self->make_response_promise<append_result>();
        st.waiting.push_back(waiting_append{std::move(request), promise});
        dispatch(self);
        return promise;
      },
      [=](caf::get_atom, journal_stats_atom) {
        auto stats = self->state.stats;
        stats.waiting = static_cast<uint32_t>(self->state.waiting.size());
        return stats;
      },
  };
}

} // namespace

journal_actor spawn_journal(caf::actor_system& sys, const config::pg_config& pg,
                            const config::journal_config& journal) {
  return sys.spawn(journal_impl, pg, journal);
}

} // namespace ordermesh::persistence
