#pragma once

#include <cstdint>
#include <string>

namespace ordermesh::actors {

/// What travels with every command: identity for deduplication, causality and tracing, and a
/// deadline after which nobody waits for the answer any more.
struct envelope {
  /// Unique per message; receivers use it to drop redeliveries.
  std::string message_id;
  /// The order this message belongs to.
  std::string correlation_id;
  /// The message_id of the message that caused this one.
  std::string causation_id;
  /// W3C trace context ("00-<trace id>-<span id>-<flags>").
  std::string traceparent;
  /// Unix microseconds; 0 means no deadline.
  int64_t deadline_us = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, envelope& x) {
  return f(x.message_id, x.correlation_id, x.causation_id, x.traceparent, x.deadline_us);
}

/// Everything a pure decide needs from the outside world, read once by the actor.
struct decide_context {
  /// Unix microseconds at the time of the decision.
  int64_t now_us = 0;
  /// A random draw in [0, 1) for retry jitter; the cores never draw one themselves.
  double jitter_fraction = 0.0;
};

} // namespace ordermesh::actors
