#pragma once

// What the journal and the reader send besides the events of event.hpp: plain structs and their
// field lists (OM_FIELDS: inspect(), operator==), listed in the type-ID block (core/type_ids.hpp),
// which includes message headers only.

#include "util/fields.hpp"

#include <cstdint>

namespace ordermesh::persistence {

/// What the journal writer has done since it started.
struct journal_stats {
  uint64_t batches = 0;
  /// Stream appends committed or conflicted (an append may carry several events).
  uint64_t appends = 0;
  uint64_t events = 0;
  uint64_t conflicts = 0;
  /// Appends answered with an error (unavailable, outcome_unknown, rejected, overloaded).
  uint64_t failed = 0;
  uint32_t largest_batch = 0;
  /// Appends not answered yet: waiting for a writer or in a batch in flight (with none answered
  /// for a while, the journal is stalled).
  uint32_t waiting = 0;
  /// Sum of commit round trips, microseconds.
  uint64_t commit_us_total = 0;
  uint64_t commit_us_max = 0;
};

// -- field lists: inspect() (CAF serialization) and operator==/!= (util/fields.hpp) ----------

OM_FIELDS(journal_stats, batches, appends, events, conflicts, failed, largest_batch, waiting,
          commit_us_total, commit_us_max)

} // namespace ordermesh::persistence
