#include "actors/notification/actor.hpp"

#include "actors/runtime/entity.hpp"
#include "actors/runtime/host.hpp"

namespace ordermesh::actors::notification {

std::optional<command> notification_traits::from_message(const caf::message& msg) const {
  return runtime::command_from_message<command>(msg);
}

caf::actor spawn_notification_host(caf::actor_system& sys,
                                   runtime::supervised<persistence::journal_actor> journal,
                                   persistence::reader_actor reader,
                                   runtime::host_settings settings) {
  auto factory = [=](caf::actor_system& s, const std::string& id, caf::actor host) {
    return runtime::spawn_entity(s, notification_traits{}, id, std::move(host), journal, reader,
                                 settings);
  };
  return runtime::spawn_host(sys, "notification", factory, settings);
}

} // namespace ordermesh::actors::notification
