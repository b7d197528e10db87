#pragma once

#include "actors/common/envelope.hpp"
#include "actors/common/outcome.hpp"
#include "actors/notification/errors.hpp"
#include "actors/notification/messages.hpp"

#include <string>
#include <vector>

namespace ordermesh::actors::notification {

/// One order's notification. Invariant: at most one notification_recorded.
struct notification_state {
  std::string order_id;
  bool notified = false;
  terminal_status status = terminal_status::confirmed;
};

bool operator==(const notification_state& x, const notification_state& y);

using notification_decision = decision<event>;

/// record_notification: notification_recorded the first time; no event for a repeat;
/// invalid_notification without an order id or for another order; conflicting_notification for a
/// repeat with another status.
notification_decision decide(const notification_state& state, const command& cmd,
                             const decide_context& ctx);

/// Folds one event into the state; handles every event and cannot fail.
notification_state apply(notification_state state, const event& ev);

/// Whether the notification's work is finished: recorded. Its entity then ends at once.
bool finished(const notification_state& state);

/// Folds `events` in order, starting from `state`.
notification_state apply_all(notification_state state, const std::vector<event>& events);

} // namespace ordermesh::actors::notification
