#include "actors/payment/codec.hpp"

#include "actors/common/json_codec.hpp"
#include "actors/common/overloaded.hpp"

#include <nlohmann/json.hpp>

#include <map>
#include <string_view>

namespace ordermesh::actors::payment {

// Field names below are the wire contract: never rename one.
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(authorization_requested, amount_cents, card_token,
                                   idempotency_key, attempt)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(authorized, psp_reference)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(declined, reason)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(authorization_failed, reason, attempt)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(captured, amount_cents)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(refunded, amount_cents)

// An event without fields is stored as {}.
void to_json(nlohmann::json& j, const voided&) {
  j = nlohmann::json::object();
}
void from_json(const nlohmann::json& j, voided&) {
  j.get<nlohmann::json::object_t>();
}

NLOHMANN_JSON_SERIALIZE_ENUM(payment_status, {{payment_status::none, "none"},
                                              {payment_status::requested, "requested"},
                                              {payment_status::failed, "failed"},
                                              {payment_status::authorized, "authorized"},
                                              {payment_status::declined, "declined"},
                                              {payment_status::captured, "captured"},
                                              {payment_status::refunded, "refunded"},
                                              {payment_status::voided, "voided"}})
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(payment_state, status, amount_cents, card_token, idempotency_key,
                                   attempt, psp_reference, reason)

namespace {

const event_parsers<event> parsers = {
    {wire::authorization_requested, parse_as<event, authorization_requested>},
    {wire::authorized, parse_as<event, authorized>},
    {wire::declined, parse_as<event, declined>},
    {wire::authorization_failed, parse_as<event, authorization_failed>},
    {wire::captured, parse_as<event, captured>},
    {wire::refunded, parse_as<event, refunded>},
    {wire::voided, parse_as<event, voided>},
};

} // namespace

persistence::new_event encode(const event& ev) {
  return std::visit(
      overloaded{
          [](const authorization_requested& x) {
            return encode_as(wire::authorization_requested, x);
          },
          [](const authorized& x) { return encode_as(wire::authorized, x); },
          [](const declined& x) { return encode_as(wire::declined, x); },
          [](const authorization_failed& x) { return encode_as(wire::authorization_failed, x); },
          [](const captured& x) { return encode_as(wire::captured, x); },
          [](const refunded& x) { return encode_as(wire::refunded, x); },
          [](const voided& x) { return encode_as(wire::voided, x); },
      },
      ev);
}

std::optional<event> decode(const std::string& type, int32_t schema_version,
                            const std::string& payload_json) {
  return decode_with(parsers, type, schema_version, payload_json);
}

std::string encode_snapshot(const payment_state& state) {
  return nlohmann::json(state).dump();
}

std::optional<payment_state> decode_snapshot(const std::string& payload_json) {
  return parse_json_as<payment_state>(payload_json);
}

} // namespace ordermesh::actors::payment
