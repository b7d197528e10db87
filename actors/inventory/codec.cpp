#include "actors/inventory/codec.hpp"

#include "actors/common/json_codec.hpp"
#include "actors/common/overloaded.hpp"

#include <nlohmann/json.hpp>

#include <map>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace ordermesh::actors::inventory {

// Field names below are the wire contract: never rename one.
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(restocked, qty)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(reserved, order_id, qty, expires_at_us)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(reservation_rejected, order_id, qty, available, reason)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(released, order_id, qty)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(committed, order_id, qty)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(reservation_expired, order_id, qty)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(returned, order_id, qty)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(settled, order_id)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(orders_settled, order_ids)

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(reservation, qty, expires_at_us)
NLOHMANN_JSON_SERIALIZE_ENUM(finish, {{finish::released, "released"},
                                      {finish::committed, "committed"},
                                      {finish::expired, "expired"},
                                      {finish::rejected, "rejected"},
                                      {finish::returned, "returned"}})

// inventory.state.v2 keeps the finished orders as one list of [order id, how it ended], oldest
// first ("finished_book"). A v1 snapshot kept them as "finished_order" (ids, oldest first) and
// "finished" (id -> how); it is read in that order. committed_qty and known are optional: snapshots
// written before they were recorded do not have them (such a snapshot is of a SKU that was in
// use, hence known).
void to_json(nlohmann::json& j, const inventory_state& s) {
  auto book = nlohmann::json::array();
  s.finished.for_each([&](std::string_view order_id, finish how) {
    book.push_back(nlohmann::json::array({order_id, how}));
  });
  j = nlohmann::json{{"known", s.known},
                     {"on_hand", s.on_hand},
                     {"reserved_qty", s.reserved_qty},
                     {"reservations", s.reservations},
                     {"finished_book", std::move(book)},
                     {"committed_qty", s.committed_qty}};
}

void from_json(const nlohmann::json& j, inventory_state& s) {
  j.at("on_hand").get_to(s.on_hand);
  j.at("reserved_qty").get_to(s.reserved_qty);
  j.at("reservations").get_to(s.reservations);
  if (auto book = j.find("finished_book"); book != j.end()) {
    for (const auto& entry : book->get<std::vector<std::pair<std::string, finish>>>()) {
      s.finished.append(entry.first, entry.second);
    }
  } else {
    const auto order = j.at("finished_order").get<std::vector<std::string>>();
    const auto& how = j.at("finished");
    if (how.size() != order.size()) {
      throw nlohmann::json::other_error::create(
          501, "finished_order and finished name different orders", &j);
    }
    for (const auto& order_id : order) {
      s.finished.append(order_id, how.at(order_id).get<finish>());
    }
  }
  if (auto i = j.find("committed_qty"); i != j.end()) {
    i->get_to(s.committed_qty);
  }
  s.known = j.value("known", true);
}

namespace {

const event_parsers<event> parsers = {
    {wire::restocked, parse_as<event, restocked>},
    {wire::reserved, parse_as<event, reserved>},
    {wire::reservation_rejected, parse_as<event, reservation_rejected>},
    {wire::released, parse_as<event, released>},
    {wire::committed, parse_as<event, committed>},
    {wire::reservation_expired, parse_as<event, reservation_expired>},
    {wire::returned, parse_as<event, returned>},
    {wire::settled, parse_as<event, settled>},
    {wire::orders_settled, parse_as<event, orders_settled>},
};

} // namespace

encoded_event encode(const event& ev) {
  return std::visit(
      overloaded{
          [](const restocked& x) { return encode_as(wire::restocked, x); },
          [](const reserved& x) { return encode_as(wire::reserved, x); },
          [](const reservation_rejected& x) { return encode_as(wire::reservation_rejected, x); },
          [](const released& x) { return encode_as(wire::released, x); },
          [](const committed& x) { return encode_as(wire::committed, x); },
          [](const reservation_expired& x) { return encode_as(wire::reservation_expired, x); },
          [](const returned& x) { return encode_as(wire::returned, x); },
          [](const settled& x) { return encode_as(wire::settled, x); },
          [](const orders_settled& x) { return encode_as(wire::orders_settled, x); },
      },
      ev);
}

std::optional<event> decode(const std::string& type, int32_t schema_version,
                            const std::string& payload_json) {
  return decode_with(parsers, type, schema_version, payload_json);
}

const std::vector<std::string>& decodable_types() {
  static const std::vector<std::string> names = wire_names_of(parsers);
  return names;
}

std::optional<inventory_recorded> recorded_of(const std::string& type) {
  static const std::unordered_map<std::string, inventory_recorded> kinds{
      {wire::restocked, inventory_recorded::restocked},
      {wire::reserved, inventory_recorded::reserved},
      {wire::reservation_rejected, inventory_recorded::reservation_rejected},
      {wire::released, inventory_recorded::released},
      {wire::committed, inventory_recorded::committed},
      {wire::reservation_expired, inventory_recorded::reservation_expired},
      {wire::returned, inventory_recorded::returned},
      {wire::settled, inventory_recorded::settled},
      {wire::orders_settled, inventory_recorded::orders_settled},
  };
  if (auto i = kinds.find(type); i != kinds.end()) {
    return i->second;
  }
  return std::nullopt;
}

std::string encode_snapshot(const inventory_state& state) {
  return nlohmann::json(state).dump();
}

std::optional<inventory_state> decode_snapshot(const std::string& payload_json) {
  return parse_json_as<inventory_state>(payload_json);
}

} // namespace ordermesh::actors::inventory
