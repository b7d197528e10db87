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
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(sale_requested, attempt)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(payment_authorized, psp_reference)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(payment_attempt_failed, attempt, reason)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(stock_commit_requested, attempt)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(stock_committed, sku)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(stock_commit_failed, attempt, reason)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(stock_commit_refused, sku, reason)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(order_rejected, reason)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(order_cancelled, reason)

// Events without fields are stored as {}.
// Stored as {} without SKUs, as before they were recorded; "skus" is optional when read.
void to_json(nlohmann::json& j, const order_confirmed& x) {
  j = nlohmann::json::object();
  if (!x.skus.empty()) {
    j["skus"] = x.skus;
  }
}
void from_json(const nlohmann::json& j, order_confirmed& x) {
  j.get<nlohmann::json::object_t>();
  if (auto i = j.find("skus"); i != j.end()) {
    i->get_to(x.skus);
  }
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

void to_json(nlohmann::json& j, const order_status& x) {
  j = to_string(x);
}
void from_json(const nlohmann::json& j, order_status& x) {
  auto named = order_status_from(j.get<std::string>());
  if (!named) {
    // A JSON error, like any other malformed field: the codec's callers stop those.
    throw nlohmann::json::other_error::create(501, "unknown order status " + j.dump(), &j);
  }
  x = *named;
}
NLOHMANN_JSON_SERIALIZE_ENUM(line_reservation,
                             {{line_reservation::pending, "pending"},
                              {line_reservation::reserved, "reserved"},
                              {line_reservation::failed, "failed"},
                              {line_reservation::committed, "committed"},
                              {line_reservation::commit_refused, "commit_refused"}})
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(line_state, sku, qty, reservation)
// With defaults: snapshots written before the stock commit step lack its fields.
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(order_state, order_id, customer_id, lines,
                                                card_token, amount_cents, status, payment_attempt,
                                                failed_attempt, psp_reference, authorized,
                                                commit_attempt, failed_commit_attempt, reason,
                                                saga_completed, sale, settled_by_runner)

namespace {

const event_parsers<event> parsers = {
    {wire::order_placed, parse_as<event, order_placed>},
    {wire::stock_reserved, parse_as<event, stock_reserved>},
    {wire::stock_reservation_failed, parse_as<event, stock_reservation_failed>},
    {wire::payment_requested, parse_as<event, payment_requested>},
    {wire::sale_requested, parse_as<event, sale_requested>},
    {wire::payment_authorized, parse_as<event, payment_authorized>},
    {wire::payment_attempt_failed, parse_as<event, payment_attempt_failed>},
    {wire::stock_commit_requested, parse_as<event, stock_commit_requested>},
    {wire::stock_committed, parse_as<event, stock_committed>},
    {wire::stock_commit_failed, parse_as<event, stock_commit_failed>},
    {wire::stock_commit_refused, parse_as<event, stock_commit_refused>},
    {wire::order_confirmed, parse_as<event, order_confirmed>},
    {wire::order_rejected, parse_as<event, order_rejected>},
    {wire::order_cancelled, parse_as<event, order_cancelled>},
    {wire::payment_captured, parse_as<event, payment_captured>},
    {wire::compensation_completed, parse_as<event, compensation_completed>},
};

} // namespace

encoded_event encode(const event& ev) {
  return std::visit(
      overloaded{
          [](const order_placed& x) { return encode_as(wire::order_placed, x); },
          [](const stock_reserved& x) { return encode_as(wire::stock_reserved, x); },
          [](const stock_reservation_failed& x) {
            return encode_as(wire::stock_reservation_failed, x);
          },
          [](const payment_requested& x) { return encode_as(wire::payment_requested, x); },
          [](const sale_requested& x) { return encode_as(wire::sale_requested, x); },
          [](const payment_authorized& x) { return encode_as(wire::payment_authorized, x); },
          [](const payment_attempt_failed& x) {
            return encode_as(wire::payment_attempt_failed, x);
          },
          [](const stock_commit_requested& x) {
            return encode_as(wire::stock_commit_requested, x);
          },
          [](const stock_committed& x) { return encode_as(wire::stock_committed, x); },
          [](const stock_commit_failed& x) { return encode_as(wire::stock_commit_failed, x); },
          [](const stock_commit_refused& x) { return encode_as(wire::stock_commit_refused, x); },
          [](const order_confirmed& x) { return encode_as(wire::order_confirmed, x); },
          [](const order_rejected& x) { return encode_as(wire::order_rejected, x); },
          [](const order_cancelled& x) { return encode_as(wire::order_cancelled, x); },
          [](const payment_captured& x) { return encode_as(wire::payment_captured, x); },
          [](const compensation_completed& x) {
            return encode_as(wire::compensation_completed, x);
          },
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

std::string encode_snapshot(const order_state& state) {
  return nlohmann::json(state).dump();
}

std::optional<order_state> decode_snapshot(const std::string& payload_json) {
  return parse_json_as<order_state>(payload_json);
}

} // namespace ordermesh::actors::order
