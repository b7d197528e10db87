#pragma once

#include "persistence/event.hpp"
#include "persistence/gap_tracker.hpp"
#include "persistence/pg_event_store.hpp"
#include "persistence/result.hpp"

#include <vector>

namespace ordermesh::persistence {

/// Reads the global log in position order from a checkpoint, never skipping an event whose
/// transaction commits after a later one (see gap_tracker) and never returning one twice.
/// Blocking, like the store it reads through.
class subscription {
public:
  /// Starts after `checkpoint` (0: from the beginning).
  subscription(pg_event_store& store, int64_t checkpoint)
      : store_(store), position_(checkpoint), gaps_(checkpoint) {}

  /// The next events that are safe to hand on, in position order; empty when there are none yet.
  /// After the call, position() is the last one returned: store it as the checkpoint.
  store_result<std::vector<recorded_event>> poll(int32_t max_count = 500);

  /// Position of the last event returned (or the starting checkpoint).
  int64_t position() const { return position_; }

private:
  pg_event_store& store_;
  int64_t position_;
  gap_tracker gaps_;
};

} // namespace ordermesh::persistence
