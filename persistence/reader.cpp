#include "persistence/reader.hpp"

#include "observability/log.hpp"
#include "persistence/journal.hpp"
#include "persistence/pg_event_store.hpp"

#include <caf/all.hpp>

#include <pthread.h>

#include <algorithm>
#include <deque>
#include <functional>
#include <memory>
#include <vector>

namespace ordermesh::persistence {

namespace {

struct reader_state {
  std::unique_ptr<pg_event_store> store;
};

constexpr int32_t page_size = 10000;

/// `history` with the stream's events after `version` appended, page by page.
caf::result<stream_history> read_after(pg_event_store& store, const std::string& stream_id,
                                       int64_t version, stream_history history) {
  for (;;) {
    auto page = store.read_stream(stream_id, version + 1, page_size);
    if (!page) {
      return caf::make_error(page.error().code, page.error().detail);
    }
    auto count = page->size();
    for (auto& e : *page) {
      history.events.push_back(std::move(e));
    }
    if (count < static_cast<size_t>(page_size)) {
      return history;
    }
    version = history.events.back().stream_version;
  }
}

/// One connection: a detached actor that runs each request to the end before the next.
reader_actor::behavior_type connection_impl(reader_actor::stateful_pointer<reader_state> self,
                                            config::pg_config pg, config::journal_config journal,
                                            std::shared_ptr<store_health> health) {
  // Runs on the connection's own thread: named so that a profile tells it from other actors.
  pthread_setname_np(pthread_self(), "om.reader");
  self->state.store = std::make_unique<pg_event_store>(std::move(pg), journal);
  if (health) {
    self->state.store->report_health_to(std::move(health));
  }
  return {
      [=](recover_atom, const std::string& stream_id) -> caf::result<stream_history> {
        auto& store = *self->state.store;
        auto first = store.recover(stream_id, page_size);
        if (!first) {
          return caf::make_error(first.error().code, first.error().detail);
        }
        if (first->events.size() < static_cast<size_t>(page_size)) {
          return std::move(*first);
        }
        auto version = first->events.back().stream_version;
        return read_after(store, stream_id, version, std::move(*first));
      },
      [=](events_after_atom, const std::string& stream_id,
          int64_t version) -> caf::result<stream_history> {
        return read_after(*self->state.store, stream_id, version, stream_history{});
      },
      [=](unfinished_atom, const std::string& prefix, const std::string& started,
          const std::vector<std::string>& finished) -> caf::result<std::vector<std::string>> {
        auto streams = self->state.store->unfinished_streams(prefix, started, finished);
        if (!streams) {
          return caf::make_error(streams.error().code, streams.error().detail);
        }
        return std::move(*streams);
      },
      [=](snapshot_atom, const snapshot& s) {
        if (auto saved = self->state.store->save_snapshot(s); !saved) {
          observability::log_event(spdlog::level::warn, "snapshot not saved",
                                   {{"stream", s.stream_id}, {"error", saved.error().detail}});
        }
      },
  };
}

struct front_state {
  std::vector<reader_actor> connections;
  /// Connections without a request, longest idle first.
  std::deque<size_t> idle;
  /// Requests waiting for a connection, oldest first: each one sends itself to the connection
  /// it is given and hands it back once answered.
  std::deque<std::function<void(size_t)>> waiting;
};

using front_pointer = reader_actor::stateful_pointer<front_state>;

void run_waiting(front_pointer self) {
  auto& st = self->state;
  while (!st.waiting.empty() && !st.idle.empty()) {
    auto job = std::move(st.waiting.front());
    st.waiting.pop_front();
    auto connection = st.idle.front();
    st.idle.pop_front();
    job(connection);
  }
}

void hand_back(front_pointer self, size_t connection) {
  self->state.idle.push_back(connection);
  run_waiting(self);
}

/// Runs `send(connection, done)` once a connection is idle: it sends its request there and calls
/// done() once answered, which frees the connection for the next one waiting.
template <class Send>
void on_next_connection(front_pointer self, Send send) {
  self->state.waiting.push_back([self, send = std::move(send)](size_t connection) mutable {
    send(self->state.connections[connection], [self, connection] { hand_back(self, connection); });
  });
  run_waiting(self);
}

/// Queues `args` for the next idle connection; its answer (or error) goes to the caller.
template <class Answer, class... Args>
caf::typed_response_promise<Answer> enqueue(front_pointer self, Args... args) {
  auto promise = self->make_response_promise<Answer>();
  on_next_connection(self, [self, promise, args...](const reader_actor& to, auto done) mutable {
    self->request(to, caf::infinite, args...)
        .then(
            [promise, done](Answer& answer) mutable {
              promise.deliver(std::move(answer));
              done();
            },
            [promise, done](caf::error& err) mutable {
              promise.deliver(std::move(err));
              done();
            });
  });
  return promise;
}

/// Spreads requests over `journal.readers` connections, each taken by one request at a time
/// (the longest idle first), so that one slow read waits for no other.
reader_actor::behavior_type front_impl(front_pointer self, config::pg_config pg,
                                       config::journal_config journal,
                                       std::shared_ptr<store_health> health) {
  if (health) {
    // The connections are linked: whichever ends first, all end.
    self->attach_functor([health] { health->record_stopped(); });
  }
  for (uint32_t i = 0; i < std::max<uint32_t>(1, journal.readers); ++i) {
    auto connection = self->system().spawn<caf::detached>(connection_impl, pg, journal, health);
    self->link_to(connection);
    self->state.idle.push_back(self->state.connections.size());
    self->state.connections.push_back(std::move(connection));
  }
  return {
      [=](recover_atom a, std::string& stream_id) -> caf::result<stream_history> {
        return enqueue<stream_history>(self, a, std::move(stream_id));
      },
      [=](events_after_atom a, std::string& stream_id,
          int64_t version) -> caf::result<stream_history> {
        return enqueue<stream_history>(self, a, std::move(stream_id), version);
      },
      [=](unfinished_atom a, std::string& prefix, std::string& started,
          std::vector<std::string>& finished) -> caf::result<std::vector<std::string>> {
        return enqueue<std::vector<std::string>>(self, a, std::move(prefix), std::move(started),
                                                 std::move(finished));
      },
      [=](snapshot_atom a, snapshot& s) {
        // Best effort, like the connection's own (it logs a failure), but it holds a connection
        // like a read, so that no read waits behind it on the same one.
        on_next_connection(self,
                           [self, a, s = std::move(s)](const reader_actor& to, auto done) mutable {
                             self->request(to, caf::infinite, a, std::move(s))
                                 .then([done] { done(); }, [done](caf::error&) { done(); });
                           });
      },
  };
}

} // namespace

reader_actor spawn_reader(caf::actor_system& sys, const config::pg_config& pg,
                          const config::journal_config& journal,
                          std::shared_ptr<store_health> health) {
  return sys.spawn(front_impl, pg, journal, std::move(health));
}

} // namespace ordermesh::persistence
