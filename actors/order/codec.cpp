#include "actors/order/codec.hpp"

#include "actors/common/json_codec.hpp"
#include "actors/common/overloaded.hpp"

#include <nlohmann/json.hpp>

#include <map>
#include <string_view>

namespace ordermesh::actors::order {

// Field names below are the wire contract: never rename one.
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(order_line, sku, qty)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(order_placed, order_id, customer_id, lines, card_token,
                                   amount_cents)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(stock_reserved, sku)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(stock_reservation_failed, sku, reason)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(payment_requested, attempt)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(payment_authorized, psp_reference)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(payment_attempt_failed, attempt, reason)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(order_rejected, reason)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(order_cancelled, reason)

// Events without fields are stored as {}.
void to_json(nlohmann::json& j, const order_confirmed&) {
  j = nlohmann::json::object();
}
void from_json(const nlohmann::json& j, order_confirmed&) {
  j.get<nlohmann::json::object_t>();
}
void to_json(nlohmann::json& j, const payment_captured&) {
  j = nlohmann::json::object();
}
void from_json(const nlohmann::json& j, payment_captured&) {
  j.get<nlohmann::json::object_t>();
}
void to_json(nlohmann::json& j, const compensation_completed&) {
  j = nlohmann::json::object();
}
void from_json(const nlohmann::json& j, compensation_completed&) {
  j.get<nlohmann::json::object_t>();
}

NLOHMANN_JSON_SERIALIZE_ENUM(order_status, {{order_status::none, "none"},
                                            {order_status::placed, "placed"},
                                            {order_status::reserved, "reserved"},
                                            {order_status::confirmed, "confirmed"},
                                            {order_status::rejected, "rejected"},
                                            {order_status::cancelled, "cancelled"}})
NLOHMANN_JSON_SERIALIZE_ENUM(line_reservation, {{line_reservation::pending, "pending"},
                                                {line_reservation::reserved, "reserved"},
                                                {line_reservation::failed, "failed"}})
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(line_state, sku, qty, reservation)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(order_state, order_id, customer_id, lines, card_token,
                                   amount_cents, status, payment_attempt, failed_attempt,
                                   psp_reference, reason, saga_completed)

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
    {wire::order_placed, parse<order_placed>},
    {wire::stock_reserved, parse<stock_reserved>},
    {wire::stock_reservation_failed, parse<stock_reservation_failed>},
    {wire::payment_requested, parse<payment_requested>},
    {wire::payment_authorized, parse<payment_authorized>},
    {wire::payment_attempt_failed, parse<payment_attempt_failed>},
    {wire::order_confirmed, parse<order_confirmed>},
    {wire::order_rejected, parse<order_rejected>},
    {wire::order_cancelled, parse<order_cancelled>},
    {wire::payment_captured, parse<payment_captured>},
    {wire::compensation_completed, parse<compensation_completed>},
};

} // namespace

persistence::new_event encode(const event& ev) {
  return std::visit(
      overloaded{
          [](const order_placed& x) { return make(wire::order_placed, x); },
          [](const stock_reserved& x) { return make(wire::stock_reserved, x); },
          [](const stock_reservation_failed& x) { return make(wire::stock_reservation_failed, x); },
          [](const payment_requested& x) { return make(wire::payment_requested, x); },
          [](const payment_authorized& x) { return make(wire::payment_authorized, x); },
          [](const payment_attempt_failed& x) { return make(wire::payment_attempt_failed, x); },
          [](const order_confirmed& x) { return make(wire::order_confirmed, x); },
          [](const order_rejected& x) { return make(wire::order_rejected, x); },
          [](const order_cancelled& x) { return make(wire::order_cancelled, x); },
          [](const payment_captured& x) { return make(wire::payment_captured, x); },
          [](const compensation_completed& x) { return make(wire::compensation_completed, x); },
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

std::string encode_snapshot(const order_state& state) {
  return nlohmann::json(state).dump();
}

std::optional<order_state> decode_snapshot(const std::string& payload_json) {
  return parse_json_as<order_state>(payload_json);
}

} // namespace ordermesh::actors::order
