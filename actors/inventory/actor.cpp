#include "actors/inventory/actor.hpp"

#include "actors/shard/entity.hpp"
#include "actors/shard/host.hpp"

namespace ordermesh::actors::inventory {

std::string inventory_traits::summary(const inventory_state& s) const {
  return nlohmann::json{{"on_hand", s.on_hand},
                        {"reserved", s.reserved_qty},
                        {"available", s.available()},
                        {"reservations", s.reservations.size()}}
      .dump();
}

namespace {

template <class Alternative>
bool take(const caf::message& msg, std::optional<command>& out) {
  if (!out && msg.match_elements<Alternative>()) {
    out = msg.get_as<Alternative>(0);
  }
  return out.has_value();
}

template <class... Alternatives>
std::optional<command> command_of(const caf::message& msg, std::variant<Alternatives...>*) {
  std::optional<command> out;
  (take<Alternatives>(msg, out) || ...);
  return out;
}

} // namespace

std::optional<command> inventory_traits::from_message(const caf::message& msg) const {
  return command_of(msg, static_cast<command*>(nullptr));
}

std::optional<command> inventory_traits::on_tick(const inventory_state& s) const {
  if (s.reservations.empty()) {
    return std::nullopt;
  }
  return command{expire_reservations{}};
}

caf::actor spawn_inventory_host(caf::actor_system& sys, persistence::journal_actor journal,
                                persistence::reader_actor reader, shard::host_settings settings) {
  auto factory = [=](caf::actor_system& s, const std::string& id, caf::actor host) {
    return shard::spawn_entity(s, inventory_traits{}, id, std::move(host), journal, reader,
                               settings);
  };
  return shard::spawn_host(sys, "inventory", factory, settings);
}

} // namespace ordermesh::actors::inventory
