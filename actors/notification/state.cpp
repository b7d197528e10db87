#include "actors/notification/state.hpp"

#include "actors/common/overloaded.hpp"

namespace ordermesh::actors::notification {

bool operator==(const notification_state& x, const notification_state& y) {
  return x.order_id == y.order_id && x.notified == y.notified && x.status == y.status;
}

namespace {

notification_decision decide_record(const notification_state& s, const record_notification& cmd) {
  if (cmd.order_id.empty() || (s.notified && cmd.order_id != s.order_id)) {
    return reject<event>(notification_errc::invalid_notification, "not this stream's order");
  }
  if (!s.notified) {
    return accept<event>({notification_recorded{cmd.order_id, cmd.status}});
  }
  if (cmd.status != s.status) {
    return reject<event>(notification_errc::conflicting_notification,
                         "the order was notified with another status");
  }
  return accept<event>();
}

} // namespace

notification_decision decide(const notification_state& state, const command& cmd,
                             const decide_context&) {
  return std::visit(
      overloaded{[&](const record_notification& x) { return decide_record(state, x); }}, cmd);
}

notification_state apply(notification_state s, const event& ev) {
  std::visit(overloaded{[&](const notification_recorded& x) {
               s.order_id = x.order_id;
               s.notified = true;
               s.status = x.status;
             }},
             ev);
  return s;
}

bool finished(const notification_state& state) {
  return state.notified;
}

notification_state apply_all(notification_state state, const std::vector<event>& events) {
  for (const auto& ev : events) {
    state = apply(std::move(state), ev);
  }
  return state;
}

} // namespace ordermesh::actors::notification
