#include "persistence/journal.hpp"

#include "observability/log.hpp"
#include "persistence/pg_event_store.hpp"
#include "util/fail_point.hpp"

#include <caf/all.hpp>

#include <pthread.h>

#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace ordermesh::persistence::journal_detail {

/// A batch on its way to a worker: shared with the journal, never copied, read-only once sent
/// (the journal still needs it to split it, the worker to write it).
using shared_batch = std::shared_ptr<const std::vector<stream_append>>;

} // namespace ordermesh::persistence::journal_detail

// Only ever sent to a worker of the same process.
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(ordermesh::persistence::journal_detail::shared_batch)

namespace ordermesh::persistence {

namespace {

using journal_detail::shared_batch;
using commit_atom = caf::atom_constant<caf::atom("commit")>;
using ready_atom = caf::atom_constant<caf::atom("ready")>;

/// The blocking half: owns the connection, runs on its own thread. `ready` is answered once
/// what it was sent before is done (a commit that timed out at the journal has ended).
using journal_worker =
    caf::typed_actor<caf::replies_to<commit_atom, shared_batch>::with<std::vector<append_result>>,
                     caf::replies_to<ready_atom>::with<ready_atom>>;

struct worker_state {
  std::unique_ptr<pg_event_store> store;
  /// Failed batches since the last success (logged on the way in and out, not per batch).
  uint64_t failed_batches = 0;
};

journal_worker::behavior_type worker_impl(journal_worker::stateful_pointer<worker_state> self,
                                          config::pg_config pg, config::journal_config journal,
                                          std::shared_ptr<store_health> health,
                                          std::shared_ptr<written_versions> written) {
  // Runs on the worker's own thread: named so that a profile tells it from other detached actors.
  pthread_setname_np(pthread_self(), "om.journal");
  self->state.store = std::make_unique<pg_event_store>(std::move(pg), journal);
  self->state.store->share_written_versions(std::move(written));
  self->state.store->plan_statements_once();
  if (health) {
    self->state.store->report_health_to(std::move(health));
  }
  return {
      [=](commit_atom, const shared_batch& batch) -> caf::result<std::vector<append_result>> {
        auto& st = self->state;
        auto results = st.store->append(*batch);
        if (!results) {
          if (st.failed_batches++ == 0) {
            observability::log_event(spdlog::level::warn, "journal commits failing",
                                     {{"error", to_string(results.error().code)},
                                      {"detail", results.error().detail},
                                      {"batch", batch->size()}});
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
      [](ready_atom r) { return r; },
  };
}

struct waiting_append {
  stream_append request;
  caf::typed_response_promise<append_result> promise;
  /// When it is answered unavailable if no writer took it by then (commit_timeout after it came).
  caf::actor_clock::time_point give_up_at;
};

using dispatch_atom = caf::atom_constant<caf::atom("dispatch")>;
using watch_atom = caf::atom_constant<caf::atom("watch")>;

struct batch_part;

struct journal_state {
  config::journal_config config;
  /// One per connection; each commits one batch at a time.
  std::vector<journal_worker> workers;
  /// Indexes into `workers` of those with no batch in flight, longest idle first (taken from the
  /// front: work goes round all connections). One whose commit timed out is not among them
  /// until it answered: it may still be blocked in that statement.
  std::deque<size_t> idle;
  std::deque<waiting_append> waiting;
  /// Streams with an append in flight: a stream's next append waits for its outcome (its
  /// expected version depends on it), so a stream's appends commit one after another, in order.
  /// Each names the stream id of an append in a batch in flight, which outlives its entry.
  std::unordered_set<std::string_view> in_flight_streams;
  /// Appends in the batches in flight.
  size_t in_flight_appends = 0;
  /// A dispatch message is on its way: appends already in the mailbox join the next batch.
  bool dispatch_scheduled = false;
  /// The commits in flight (in no order; each knows its index). One periodic watch gives up on
  /// the late ones, where a request timeout per commit would cost an event on CAF's clock thread
  /// (allocated, locked, usually waking it) and a timeout message to this actor for every commit.
  std::vector<std::shared_ptr<batch_part>> watched;
  /// A watch message is on its way.
  bool watch_scheduled = false;
  journal_stats stats;

  journal_state() = default;
  journal_state(const journal_state&) = delete;
  journal_state& operator=(const journal_state&) = delete;
  /// Answers the callers still waiting (the actor ended: stopped, killed or crashed).
  ~journal_state();
};

// Dynamically typed inside (it also takes its own dispatch message), a journal_actor outside.
using journal_pointer = caf::stateful_actor<journal_state>*;

/// Appends on their way to a worker, with the callers to answer.
struct batch_part {
  shared_batch appends;
  std::vector<caf::typed_response_promise<append_result>> promises;
  /// Runs once, after every caller is answered, with whether the commit was given up on.
  std::function<void(bool timed_out)> done;
  /// When the watch gives up on the commit (answers its callers outcome_unknown).
  caf::actor_clock::time_point give_up_at;
  /// Its index in journal_state::watched while the commit is in flight.
  size_t watch_index = 0;
  /// Answered, by the worker or by the watch: whatever comes later is ignored.
  bool settled = false;
};

// Callers send their appends to this actor directly, not through its supervisor: when it ends,
// nobody else would answer them. A commit in flight may still happen (its worker may be in the
// statement, and the supervisor waits for that worker before starting the next incarnation); an
// append still waiting was never sent.
journal_state::~journal_state() {
  for (const auto& part : watched) {
    for (auto promise : part->promises) {
      promise.deliver(caf::make_error(store_errc::outcome_unknown,
                                      "the journal writer ended with the append in flight"));
    }
  }
  for (auto& w : waiting) {
    w.promise.deliver(caf::make_error(store_errc::unavailable,
                                      "the journal writer ended before sending the append"));
  }
}

// Answers every caller of `part` with `err`.
void fail(journal_pointer self, const batch_part& part, const caf::error& err) {
  self->state.stats.failed += part.appends->size();
  for (auto promise : part.promises) {
    promise.deliver(err);
  }
}

// Marks `part` answered and stops watching it; false if it was answered already (given up on).
bool settle(journal_state& st, batch_part& part) {
  if (part.settled) {
    return false;
  }
  part.settled = true;
  const auto i = part.watch_index;
  if (i + 1 != st.watched.size()) {
    st.watched[i] = std::move(st.watched.back());
    st.watched[i]->watch_index = i;
  }
  st.watched.pop_back();
  return true;
}

// How often the commits in flight are checked against journal.commit_timeout: a commit is given
// up on between commit_timeout and 1.125 x commit_timeout after it was sent.
caf::timespan watch_interval(const config::journal_config& c) {
  return std::max<caf::timespan>(std::chrono::milliseconds(1), c.commit_timeout / 8);
}

// Arms the watch while commits are in flight or appends wait (one delayed message at a time).
void watch(journal_pointer self) {
  auto& st = self->state;
  if (!st.watch_scheduled && (!st.watched.empty() || !st.waiting.empty())) {
    st.watch_scheduled = true;
    self->delayed_send(self, watch_interval(st.config), watch_atom::value);
  }
}

// Gives up on the commits past their time: their callers get outcome_unknown (the commit may
// still happen), and their answers, if they ever come, are ignored.
void give_up_on_late_commits(journal_pointer self) {
  auto& st = self->state;
  st.watch_scheduled = false;
  // The actor clock, like the watch's delayed message (virtual under test_coordinator).
  const auto now = self->clock().now();
  std::vector<std::shared_ptr<batch_part>> late;
  for (const auto& part : st.watched) {
    if (part->give_up_at <= now) {
      late.push_back(part);
    }
  }
  for (const auto& part : late) {
    settle(st, *part);
    fail(self, *part,
         caf::make_error(store_errc::outcome_unknown,
                         "commit did not answer within " +
                             std::to_string(st.config.commit_timeout.count()) + " ms"));
    part->done(true);
  }
  // Appends that no writer took within commit_timeout (every writer blocked, or the waiting
  // ones queued behind a stream's append in flight): never sent, so unavailable. Callers that
  // may finish arm no timer of their own for an append: they count on an answer in time.
  // In arrival order, so in order of their deadlines: the first not due ends the scan.
  for (auto it = st.waiting.begin(); it != st.waiting.end();) {
    if (it->give_up_at > now) {
      break;
    }
    st.stats.failed += 1;
    it->promise.deliver(caf::make_error(
        store_errc::unavailable, "no journal writer took the append within " +
                                     std::to_string(st.config.commit_timeout.count()) + " ms"));
    it = st.waiting.erase(it);
  }
  watch(self);
}

// Sends `part` to `worker` and answers its callers. A part that the database refused as a whole (a
// statement error, so nothing of it was written: e.g. one payload that is not JSON) is split in
// halves and each half sent again, so a bad append fails alone, like a version conflict, after
// about log2(n) more round trips, while every other append of the batch commits. `done` runs
// once, after every caller of `part` is answered, with whether any commit of it was given up on
// (the worker may still be blocked in it).
void commit(journal_pointer self, const journal_worker& worker, std::shared_ptr<batch_part> part,
            std::function<void(bool timed_out)> done) {
  auto& st = self->state;
  part->done = std::move(done);
  part->give_up_at = self->clock().now() + st.config.commit_timeout;
  part->watch_index = st.watched.size();
  st.watched.push_back(part);
  watch(self);
  // No timeout here: the watch gives up on it, without a clock event per commit.
  self->request(worker, caf::infinite, commit_atom::value, part->appends)
      .then(
          [self, part](std::vector<append_result>& results) {
            if (!settle(self->state, *part)) {
              return; // given up on already: its callers were answered outcome_unknown
            }
            util::fail_point("journal.committed_before_reply");
            auto& s = self->state.stats;
            for (size_t i = 0; i < part->promises.size(); ++i) {
              if (results[i].status == append_status::committed) {
                s.appends += 1;
              } else {
                s.conflicts += 1;
              }
              s.events += (*part->appends)[i].events.size();
              part->promises[i].deliver(results[i]);
            }
            part->done(false);
          },
          [self, worker, part](caf::error& err) {
            if (!settle(self->state, *part)) {
              return;
            }
            auto size = part->appends->size();
            if (err == store_errc::rejected && size > 1) {
              // Copies: the worker may still hold the batch (rare, one per bad append's halving).
              auto half = static_cast<std::ptrdiff_t>(size / 2);
              const auto& a = *part->appends;
              const auto& p = part->promises;
              auto first = std::make_shared<batch_part>(batch_part{
                  std::make_shared<const std::vector<stream_append>>(a.begin(), a.begin() + half),
                  {p.begin(), p.begin() + half},
                  nullptr,
                  {}});
              auto second = std::make_shared<batch_part>(batch_part{
                  std::make_shared<const std::vector<stream_append>>(a.begin() + half, a.end()),
                  {p.begin() + half, p.end()},
                  nullptr,
                  {}});
              auto remaining = std::make_shared<int>(2);
              auto any_timed_out = std::make_shared<bool>(false);
              auto both_done = [remaining, any_timed_out, done = part->done](bool timed_out) {
                *any_timed_out = *any_timed_out || timed_out;
                if (--*remaining == 0) {
                  done(*any_timed_out);
                }
              };
              commit(self, worker, std::move(first), both_done);
              commit(self, worker, std::move(second), both_done);
              return;
            }
            fail(self, *part, err);
            part->done(false);
          });
}

// Takes the next batch off `waiting`: in arrival order, at most `limit` appends, each of a stream
// with nothing in flight and not already in the batch (a later append to such a stream waits:
// its expected version depends on the earlier one's outcome). Scanning is bounded so a hot
// stream cannot make it O(n^2).
std::shared_ptr<batch_part> next_batch(journal_state& st, size_t limit) {
  auto appends = std::make_shared<std::vector<stream_append>>();
  // Never reallocated: in_flight_streams names the stream ids in it.
  appends->reserve(std::min(limit, st.waiting.size()));
  auto part = std::make_shared<batch_part>();
  size_t scan_limit = static_cast<size_t>(st.config.max_batch) * 4;
  for (auto it = st.waiting.begin();
       it != st.waiting.end() && appends->size() < limit && scan_limit > 0; --scan_limit) {
    if (st.in_flight_streams.count(it->request.stream_id) > 0) {
      ++it;
      continue;
    }
    appends->push_back(std::move(it->request));
    st.in_flight_streams.insert(appends->back().stream_id);
    part->promises.push_back(std::move(it->promise));
    it = st.waiting.erase(it);
  }
  part->appends = std::move(appends);
  return part;
}

// Hands waiting appends to idle workers, spread evenly over them (a burst of n appends with k
// idle workers goes out as k batches of n/k, committed at once on k connections; a lone append
// goes out alone at once).
void dispatch(journal_pointer self) {
  auto& st = self->state;
  st.dispatch_scheduled = false;
  while (!st.idle.empty() && !st.waiting.empty()) {
    auto share = (st.waiting.size() + st.idle.size() - 1) / st.idle.size();
    auto part = next_batch(st, std::min<size_t>(share, st.config.max_batch));
    if (part->appends->empty()) {
      return; // every waiting append's stream has one in flight
    }
    auto worker = st.idle.front();
    st.idle.pop_front();
    auto started = std::chrono::steady_clock::now();
    auto size = static_cast<uint32_t>(part->appends->size());
    st.in_flight_appends += size;
    commit(self, st.workers[worker], part,
           [self, worker, started, size, batch = part->appends](bool timed_out) {
             auto& s = self->state;
             auto us = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                                 std::chrono::steady_clock::now() - started)
                                                 .count());
             s.stats.batches += 1;
             s.stats.commit_us_total += us;
             s.stats.commit_us_max = std::max(s.stats.commit_us_max, us);
             s.stats.largest_batch = std::max(s.stats.largest_batch, size);
             for (const auto& a : *batch) {
               s.in_flight_streams.erase(a.stream_id);
             }
             s.in_flight_appends -= size;
             if (!timed_out) {
               s.idle.push_back(worker);
               dispatch(self);
               return;
             }
             // Its thread may still be blocked in the statement: the next batch would wait
             // behind it and time out too. Back among the idle once it answers (no timeout:
             // the worker is linked, if it dies so does the journal).
             self->request(s.workers[worker], caf::infinite, ready_atom::value)
                 .then(
                     [self, worker](ready_atom) {
                       self->state.idle.push_back(worker);
                       dispatch(self);
                     },
                     [](caf::error&) {});
           });
  }
}

caf::behavior journal_impl(journal_pointer self, config::pg_config pg,
                           config::journal_config journal, std::shared_ptr<store_health> health) {
  self->state.config = journal;
  if (health) {
    // The workers are linked: whichever ends first, all end.
    self->attach_functor([health] { health->record_stopped(); });
  }
  auto written = std::make_shared<written_versions>();
  for (uint32_t i = 0; i < std::max<uint32_t>(1, journal.writers); ++i) {
    auto worker = self->system().spawn<caf::detached>(worker_impl, pg, journal, health, written);
    self->link_to(worker);
    self->state.idle.push_back(self->state.workers.size());
    self->state.workers.push_back(std::move(worker));
  }
  return {
      [=](append_atom, stream_append& request) -> caf::result<append_result> {
        auto& st = self->state;
        // Refused here, alone: in a batch it would fail the whole statement.
        if (auto why = invalid_append(request); !why.empty()) {
          st.stats.failed += 1;
          return caf::make_error(store_errc::invalid_request, std::move(why));
        }
        if (st.waiting.size() >= st.config.max_pending) {
          st.stats.failed += 1;
          return caf::make_error(store_errc::overloaded,
                                 std::to_string(st.waiting.size()) + " appends already waiting");
        }
        auto promise = self->make_response_promise<append_result>();
        st.waiting.push_back(waiting_append{std::move(request), promise,
                                            self->clock().now() + st.config.commit_timeout});
        watch(self);
        // Dispatched after the messages already in the mailbox: a burst forms one batch per idle
        // worker instead of a first batch of one.
        if (!st.dispatch_scheduled && !st.idle.empty()) {
          st.dispatch_scheduled = true;
          self->send(self, dispatch_atom::value);
        }
        return promise;
      },
      [=](dispatch_atom) { dispatch(self); },
      [=](watch_atom) { give_up_on_late_commits(self); },
      [=](caf::get_atom, journal_stats_atom) {
        auto stats = self->state.stats;
        stats.waiting =
            static_cast<uint32_t>(self->state.waiting.size() + self->state.in_flight_appends);
        return stats;
      },
  };
}

} // namespace

journal_actor spawn_journal(caf::actor_system& sys, const config::pg_config& pg,
                            const config::journal_config& journal,
                            std::shared_ptr<store_health> health) {
  // Scheduled: it only sorts appends into batches and answers callers; the blocking commits run
  // on the detached workers.
  return caf::actor_cast<journal_actor>(sys.spawn(journal_impl, pg, journal, std::move(health)));
}

} // namespace ordermesh::persistence
