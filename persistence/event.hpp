#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ordermesh::persistence {

/// An event about to be appended. Payload and metadata are JSON object texts.
struct new_event {
  /// Stable wire name with its version, e.g. "order.placed.v1".
  std::string type;
  /// Version of the payload's schema, for upcasting.
  int32_t schema_version = 1;
  /// JSON object text.
  std::string payload = "{}";
  /// JSON object text: message id, correlation id, causation id, trace context.
  std::string metadata = "{}";
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, new_event& x) {
  return f(x.type, x.schema_version, x.payload, x.metadata);
}

/// The version a stream has before its first event.
constexpr int64_t no_stream = 0;

/// Events for one stream, written only if the stream is still at `expected_version`.
struct stream_append {
  std::string stream_id;
  /// The stream's last version as the writer knows it (no_stream for a new stream).
  int64_t expected_version = no_stream;
  std::vector<new_event> events;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, stream_append& x) {
  return f(x.stream_id, x.expected_version, x.events);
}

/// Why `a` can never be appended ("" if it can): it needs a stream name, at least one event and
/// an expected version >= no_stream.
std::string invalid_append(const stream_append& a);

enum class append_status : uint8_t {
  /// The events are durable at the versions and positions given.
  committed,
  /// Another writer got there first; nothing was written.
  version_conflict,
};

std::string to_string(append_status x);

/// The outcome of one stream's append. For a conflict, stream_version is the stream's actual
/// version and the positions are 0.
struct append_result {
  append_status status = append_status::committed;
  int64_t stream_version = 0;
  int64_t first_position = 0;
  int64_t last_position = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, append_result& x) {
  return f(x.status, x.stream_version, x.first_position, x.last_position);
}

/// An event as stored.
struct recorded_event {
  int64_t global_position = 0;
  std::string stream_id;
  int64_t stream_version = 0;
  std::string type;
  int32_t schema_version = 1;
  std::string payload;
  std::string metadata;
  /// Commit time, microseconds since the Unix epoch.
  int64_t recorded_at_us = 0;
  /// The top-level transaction id (xid8) that wrote it; 0 for events older than migration 0004.
  uint64_t transaction_id = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, recorded_event& x) {
  return f(x.global_position, x.stream_id, x.stream_version, x.type, x.schema_version, x.payload,
           x.metadata, x.recorded_at_us, x.transaction_id);
}

/// Where a reader of the global log stands: the last event it took, named by its writing
/// transaction and its position. The log is read in (transaction_id, position) order
/// (persistence/subscription.hpp); {0, 0} is before the first event.
struct log_checkpoint {
  uint64_t transaction_id = 0;
  int64_t position = 0;

  /// The checkpoint just after `e`.
  static log_checkpoint after(const recorded_event& e) {
    return {e.transaction_id, e.global_position};
  }
  bool operator==(const log_checkpoint& other) const {
    return transaction_id == other.transaction_id && position == other.position;
  }
};

/// The latest saved state of a stream, valid as of `stream_version`.
struct snapshot {
  std::string stream_id;
  int64_t stream_version = 0;
  std::string type;
  int32_t schema_version = 1;
  std::string payload;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, snapshot& x) {
  return f(x.stream_id, x.stream_version, x.type, x.schema_version, x.payload);
}

/// What an entity recovers from: its latest snapshot (if any) and every event after it.
struct stream_history {
  bool has_snapshot = false;
  snapshot latest_snapshot;
  std::vector<recorded_event> events;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, stream_history& x) {
  return f(x.has_snapshot, x.latest_snapshot, x.events);
}

} // namespace ordermesh::persistence
