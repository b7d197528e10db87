#include "actors/inventory/actor.hpp"

#include "actors/runtime/entity.hpp"
#include "actors/runtime/host.hpp"
#include "util/fail_point.hpp"

namespace ordermesh::actors::inventory {

inventory_summary inventory_traits::summary(const inventory_state& s) const {
  return {s.on_hand, s.reserved_qty, s.available(), s.reservations.size()};
}

inventory_reply inventory_traits::reply(const inventory_state& s,
                                        const std::vector<std::string>& recorded_types,
                                        int64_t version) const {
  inventory_reply r{{}, version, summary(s)};
  for (const auto& type : recorded_types) {
    if (auto kind = recorded_of(type)) {
      r.recorded.push_back(*kind);
    }
  }
  return r;
}

std::optional<command> inventory_traits::from_message(const caf::message& msg) const {
  return runtime::command_from_message<command>(msg);
}

std::optional<command> inventory_traits::on_tick(const inventory_state& s) const {
  if (s.reservations.empty()) {
    return std::nullopt;
  }
  return command{expire_reservations{}};
}

caf::actor spawn_inventory_host(caf::actor_system& sys,
                                runtime::supervised<persistence::journal_actor> journal,
                                persistence::reader_actor reader, runtime::host_settings settings) {
  auto factory = [=](caf::actor_system& s, const std::string& id, caf::actor host) {
    // Runs in the host: a throw here ends the host (tests of a node that loses one).
    util::throw_point("inventory.host_starts_entity");
    return runtime::spawn_entity(s, inventory_traits{}, id, std::move(host), journal, reader,
                                 settings);
  };
  return runtime::spawn_host(sys, "inventory", factory, settings);
}

} // namespace ordermesh::actors::inventory
