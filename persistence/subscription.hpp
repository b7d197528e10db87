#pragma once

#include "persistence/event.hpp"
#include "persistence/pg_event_store.hpp"
#include "persistence/result.hpp"

#include <string>
#include <utility>
#include <vector>

namespace ordermesh::persistence {

/// Reads the global log from a checkpoint, never skipping an event and never returning one twice.
/// Blocking, like the store it reads through.
///
/// Events come in (writing transaction id, position) order, and only those of transactions below
/// the reading snapshot's xmin (pg_event_store::read_log): all of those have ended, and every
/// transaction that writes later has an id at or above that xmin, so nothing can ever appear
/// before the checkpoint. Position order alone cannot be made safe: a transaction can take
/// position p + 2 and commit while p + 1 belongs to one still running, and that one may even have
/// a higher id. Within a stream, events still come in version order: an append writes version
/// v + 1 only in a statement whose snapshot saw v committed, and its transaction id is assigned
/// after that snapshot, so it is higher than v's writer's.
///
/// A transaction open anywhere on the PostgreSQL server holds back what is delivered (never
/// loses it) until it ends.
class subscription {
public:
  /// Starts after `checkpoint` ({}: from the beginning). With `only_types`, delivers the events
  /// of those types only, without their metadata (pg_event_store::read_log_of_types); a poll that
  /// found fewer than it asked for moves the checkpoint to the log's end as it saw it, so the
  /// other events are passed over once.
  subscription(pg_event_store& store, log_checkpoint checkpoint,
               std::vector<std::string> only_types = {})
      : store_(store), checkpoint_(checkpoint), only_types_(std::move(only_types)) {}

  /// The next events that are safe to hand on; empty when there are none yet. After the call,
  /// checkpoint() is after the last one returned: store it to resume there.
  store_result<std::vector<recorded_event>> poll(int32_t max_count = 500);

  /// After the last event returned (or the starting checkpoint).
  const log_checkpoint& checkpoint() const { return checkpoint_; }

private:
  store_result<std::vector<recorded_event>> poll_of_type(int32_t max_count);

  pg_event_store& store_;
  log_checkpoint checkpoint_;
  std::vector<std::string> only_types_;
};

} // namespace ordermesh::persistence
