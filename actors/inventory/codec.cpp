#include "actors/inventory/codec.hpp"

#include "actors/common/json_codec.hpp"
#include "actors/common/overloaded.hpp"

#include <nlohmann/json.hpp>

#include <map>
#include <string_view>

namespace ordermesh::actors::inventory {

// Field names below are the wire contract: never rename one.
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(restocked, qty)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(reserved, order_id, qty, expires_at_us)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(reservation_rejected, order_id, qty, available, reason)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(released, order_id, qty)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(committed, order_id, qty)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(reservation_expired, order_id, qty)

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(reservation, qty, expires_at_us)
NLOHMANN_JSON_SERIALIZE_ENUM(finish, {{finish::released, "released"},
                                      {finish::committed, "committed"},
                                      {finish::expired, "expired"},
                                      {finish::rejected, "rejected"}})
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(inventory_state, on_hand, reserved_qty, reservations,
                                   finished_order, finished)

namespace {

template <class Event>
persistence::new_event make(const char* type, const Event& ev) {
  return persistence::new_event{type, 1, nlohmann::json(ev).dump(), "{}"};
}

template <class Event>
std::optional<event> parse(const std::string& payload_json) {
  if (auto ev = parse_json_as<Event>(payload_json)) {
    return event{std::move(*ev)};
  }
  return std::nullopt;
}

using parser = std::optional<event> (*)(const std::string&);

const std::map<std::string_view, parser> parsers = {
    {wire::restocked, parse<restocked>},
    {wire::reserved, parse<reserved>},
    {wire::reservation_rejected, parse<reservation_rejected>},
    {wire::released, parse<released>},
    {wire::committed, parse<committed>},
    {wire::reservation_expired, parse<reservation_expired>},
};

} // namespace

persistence::new_event encode(const event& ev) {
  return std::visit(
      overloaded{
          [](const restocked& x) { return make(wire::restocked, x); },
          [](const reserved& x) { return make(wire::reserved, x); },
          [](const reservation_rejected& x) { return make(wire::reservation_rejected, x); },
          [](const released& x) { return make(wire::released, x); },
          [](const committed& x) { return make(wire::committed, x); },
          [](const reservation_expired& x) { return make(wire::reservation_expired, x); },
      },
      ev);
}

std::optional<event> decode(const std::string& type, int32_t schema_version,
                            const std::string& payload_json) {
  auto i = parsers.find(type);
  if (i == parsers.end() || schema_version != 1) {
    return std::nullopt;
  }
  return i->second(payload_json);
}

std::string encode_snapshot(const inventory_state& state) {
  return nlohmann::json(state).dump();
}

std::optional<inventory_state> decode_snapshot(const std::string& payload_json) {
  return parse_json_as<inventory_state>(payload_json);
}

} // namespace ordermesh::actors::inventory
