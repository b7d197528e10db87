#include "actors/notification/actor.hpp"

#include "actors/shard/entity.hpp"
#include "actors/shard/host.hpp"

namespace ordermesh::actors::notification {

std::string notification_traits::summary(const notification_state& s) const {
  return nlohmann::json{{"order_id", s.order_id}, {"notified", s.notified}}.dump();
}

std::optional<command> notification_traits::from_message(const caf::message& msg) const {
  return shard::command_from_message<command>(msg);
}

caf::actor spawn_notification_host(caf::actor_system& sys, persistence::journal_actor journal,
                                   persistence::reader_actor reader,
                                   shard::host_settings settings) {
  auto factory = [=](caf::actor_system& s, const std::string& id, caf::actor host) {
    return shard::spawn_entity(s, notification_traits{}, id, std::move(host), journal, reader,
                               settings);
  };
  return shard::spawn_host(sys, "notification", factory, settings);
}

} // namespace ordermesh::actors::notification
