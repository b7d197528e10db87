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
    {wire::authorization_requested, parse<authorization_requested>},
    {wire::authorized, parse<authorized>},
    {wire::declined, parse<declined>},
    {wire::authorization_failed, parse<authorization_failed>},
    {wire::captured, parse<captured>},
    {wire::refunded, parse<refunded>},
    {wire::voided, parse<voided>},
};

} // namespace

persistence::new_event encode(const event& ev) {
  return std::visit(
      overloaded{
          [](const authorization_requested& x) { return make(wire::authorization_requested, x); },
          [](const authorized& x) { return make(wire::authorized, x); },
          [](const declined& x) { return make(wire::declined, x); },
          [](const authorization_failed& x) { return make(wire::authorization_failed, x); },
          [](const captured& x) { return make(wire::captured, x); },
          [](const refunded& x) { return make(wire::refunded, x); },
          [](const voided& x) { return make(wire::voided, x); },
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

std::string encode_snapshot(const payment_state& state) {
  return nlohmann::json(state).dump();
}

std::optional<payment_state> decode_snapshot(const std::string& payload_json) {
  return parse_json_as<payment_state>(payload_json);
}

} // namespace ordermesh::actors::payment
