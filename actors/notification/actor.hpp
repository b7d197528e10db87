#pragma once

#include "actors/notification/codec.hpp"
#include "actors/notification/errors.hpp"
#include "actors/notification/replies.hpp"
#include "actors/notification/state.hpp"
#include "actors/runtime/entity_traits.hpp"
#include "actors/runtime/host_settings.hpp"
#include "actors/runtime/messages.hpp"
#include "actors/runtime/supervised.hpp"
#include "persistence/journal.hpp"
#include "persistence/reader.hpp"

#include <caf/fwd.hpp>

#include <string>
#include <vector>

namespace ordermesh::actors::notification {

/// One order's customer notification ("notification/<order id>"): recorded once per terminal order.
struct notification_traits : runtime::passive_hooks<notification_state, command, event> {
  using state_type = notification_state;
  using command_type = command;
  using event_type = event;
  using reply_type = notification_reply;
  using errc_type = notification_errc;

  std::string kind() const { return "notification"; }
  std::string snapshot_type() const { return "notification.state.v1"; }
  notification_decision decide(const notification_state& s, const command& c,
                               const decide_context& ctx) const {
    return notification::decide(s, c, ctx);
  }
  notification_state apply(notification_state s, const event& e) const {
    return notification::apply(std::move(s), e);
  }
  persistence::new_event encode(const event& e) const {
    return runtime::to_new_event(notification::encode(e));
  }
  std::optional<event> decode(const persistence::recorded_event& e) const {
    return notification::decode(e.type, e.schema_version, e.payload);
  }
  std::string encode_snapshot(const notification_state& s) const {
    return notification::encode_snapshot(s);
  }
  std::optional<notification_state> decode_snapshot(const std::string& payload) const {
    return notification::decode_snapshot(payload);
  }
  notification_summary summary(const notification_state& s) const {
    return {s.order_id, s.notified};
  }
  notification_reply reply(const notification_state& s, const std::vector<std::string>&,
                           int64_t version) const {
    return {version, summary(s)};
  }
  std::optional<command> from_message(const caf::message& msg) const;
  /// notification::finished: the entity ends right after the commit that recorded it.
  bool finished(const notification_state& s) const { return notification::finished(s); }
  /// Its only command starts its stream: a notification entity assumes its stream empty.
  bool starts_stream(const command&) const { return true; }
};

caf::actor spawn_notification_host(caf::actor_system& sys,
                                   runtime::supervised<persistence::journal_actor> journal,
                                   persistence::reader_actor reader,
                                   runtime::host_settings settings);

} // namespace ordermesh::actors::notification
