#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace ordermesh::actors {

/// A command refused without recording anything. `code` is the aggregate's errc value.
struct rejection {
  uint8_t code = 0;
  std::string reason;
};

inline bool operator==(const rejection& x, const rejection& y) {
  return x.code == y.code && x.reason == y.reason;
}

/// What `decide` answers: the events to record (possibly none, for an idempotent repeat), or a
/// rejection (then `events` is empty).
template <class Event>
struct decision {
  std::vector<Event> events;
  std::optional<rejection> rejected;

  bool accepted() const { return !rejected.has_value(); }
};

template <class Event>
bool operator==(const decision<Event>& x, const decision<Event>& y) {
  return x.events == y.events && x.rejected == y.rejected;
}

/// Accepts a command, recording `events` (none for an idempotent repeat).
template <class Event>
decision<Event> accept(std::vector<Event> events = {}) {
  return decision<Event>{std::move(events), std::nullopt};
}

/// Refuses a command with an aggregate's error code.
template <class Event, class Errc>
decision<Event> reject(Errc code, std::string reason) {
  return decision<Event>{{}, rejection{static_cast<uint8_t>(code), std::move(reason)}};
}

} // namespace ordermesh::actors
