#include "persistence/reader.hpp"

#include "observability/log.hpp"
#include "persistence/journal.hpp"
#include "persistence/pg_event_store.hpp"

#include <caf/all.hpp>

#include <memory>

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

reader_actor::behavior_type reader_impl(reader_actor::stateful_pointer<reader_state> self,
                                        config::pg_config pg, config::journal_config journal,
                                        std::shared_ptr<store_health> health) {
  self->state.store = std::make_unique<pg_event_store>(std::move(pg), journal);
  if (health) {
    self->attach_functor([health] { health->record_stopped(); });
    self->state.store->report_health_to(std::move(health));
  }
  return {
      [=](recover_atom, const std::string& stream_id) -> caf::result<stream_history> {
        auto& store = *self->state.store;
        stream_history history;
        auto snap = store.load_snapshot(stream_id);
        if (!snap) {
          return caf::make_error(snap.error().code, snap.error().detail);
        }
        if (snap->has_value()) {
          history.has_snapshot = true;
          history.latest_snapshot = std::move(**snap);
        }
        auto after = history.has_snapshot ? history.latest_snapshot.stream_version : 0;
        return read_after(store, stream_id, after, std::move(history));
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

} // namespace

reader_actor spawn_reader(caf::actor_system& sys, const config::pg_config& pg,
                          const config::journal_config& journal,
                          std::shared_ptr<store_health> health) {
  return sys.spawn<caf::detached>(reader_impl, pg, journal, std::move(health));
}

} // namespace ordermesh::persistence
