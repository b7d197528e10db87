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
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(authorized, idempotency_key, psp_reference)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(declined, idempotency_key, reason)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(authorization_failed, idempotency_key, reason, attempt)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(hold_released, idempotency_key)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(captured, amount_cents)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(refunded, amount_cents)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(sold, idempotency_key, psp_reference, amount_cents)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(sale_declined, idempotency_key, reason)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(sale_reversed, idempotency_key)

// An event without fields is stored as {}.
void to_json(nlohmann::json& j, const voided&) {
  j = nlohmann::json::object();
}
void from_json(const nlohmann::json& j, voided&) {
  j.get<nlohmann::json::object_t>();
}
void to_json(nlohmann::json& j, const capture_confirmed&) {
  j = nlohmann::json::object();
}
void from_json(const nlohmann::json& j, capture_confirmed&) {
  j.get<nlohmann::json::object_t>();
}
void to_json(nlohmann::json& j, const refund_confirmed&) {
  j = nlohmann::json::object();
}
void from_json(const nlohmann::json& j, refund_confirmed&) {
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
NLOHMANN_JSON_SERIALIZE_ENUM(attempt_status, {{attempt_status::pending, "pending"},
                                              {attempt_status::authorized, "authorized"},
                                              {attempt_status::declined, "declined"},
                                              {attempt_status::failed, "failed"},
                                              {attempt_status::released, "released"}})
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(attempt_record, number, idempotency_key, status, psp_reference)

void to_json(nlohmann::json& j, const payment_state& s) {
  j = nlohmann::json{{"status", s.status},
                     {"amount_cents", s.amount_cents},
                     {"card_token", s.card_token},
                     {"idempotency_key", s.idempotency_key},
                     {"attempt", s.attempt},
                     {"psp_reference", s.psp_reference},
                     {"authorized_key", s.authorized_key},
                     {"reason", s.reason},
                     {"attempts", s.attempts},
                     {"capture_confirmed", s.capture_confirmed},
                     {"refund_confirmed", s.refund_confirmed},
                     {"sale_key", s.sale_key}};
}

namespace {

/// The latest attempt of a snapshot written before attempts were kept (payment.state.v1): only
/// the latest key was stored, so results and releases can still name it. An attempt whose outcome
/// the old fields do not tell (voided without a reference) counts as failed: it may hold money,
/// and a release by its key is harmless if it holds none.
std::vector<attempt_record> attempts_before_they_were_kept(const payment_state& s) {
  if (s.attempt <= 0 || s.idempotency_key.empty()) {
    return {};
  }
  auto latest = attempt_record{s.attempt, s.idempotency_key, attempt_status::failed, ""};
  switch (s.status) {
    case payment_status::none:
      return {};
    case payment_status::requested:
      latest.status = attempt_status::pending;
      break;
    case payment_status::declined:
      latest.status = attempt_status::declined;
      break;
    case payment_status::failed:
      break;
    case payment_status::authorized:
    case payment_status::captured:
    case payment_status::refunded:
    case payment_status::voided:
      if (!s.psp_reference.empty()) {
        latest.status = attempt_status::authorized;
        latest.psp_reference = s.psp_reference;
      }
      break;
  }
  return {latest};
}

} // namespace

void from_json(const nlohmann::json& j, payment_state& s) {
  j.at("status").get_to(s.status);
  j.at("amount_cents").get_to(s.amount_cents);
  j.at("card_token").get_to(s.card_token);
  j.at("idempotency_key").get_to(s.idempotency_key);
  j.at("attempt").get_to(s.attempt);
  j.at("psp_reference").get_to(s.psp_reference);
  j.at("reason").get_to(s.reason);
  // Absent from snapshots written before attempts were kept.
  if (j.contains("authorized_key")) {
    j.at("authorized_key").get_to(s.authorized_key);
  }
  // Absent from snapshots written before it was recorded: false, so the capture is confirmed again
  // (the PSP deduplicates it).
  if (j.contains("capture_confirmed")) {
    j.at("capture_confirmed").get_to(s.capture_confirmed);
  }
  // Absent from snapshots written before it was recorded: false, so a recorded refund is made again
  // (the PSP deduplicates it).
  if (j.contains("refund_confirmed")) {
    j.at("refund_confirmed").get_to(s.refund_confirmed);
  }
  if (j.contains("sale_key")) { // absent from snapshots written before sales
    j.at("sale_key").get_to(s.sale_key);
  }
  if (j.contains("attempts")) {
    j.at("attempts").get_to(s.attempts);
  } else {
    s.attempts = attempts_before_they_were_kept(s);
    if (s.authorized_key.empty() && !s.attempts.empty() &&
        s.attempts.back().status == attempt_status::authorized) {
      s.authorized_key = s.idempotency_key;
    }
  }
}

namespace {

/// The v1 payloads, before attempts carried their key.
struct authorized_v1 {
  std::string psp_reference;
};
struct declined_v1 {
  std::string reason;
};
struct authorization_failed_v1 {
  std::string reason;
  int32_t attempt = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(authorized_v1, psp_reference)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(declined_v1, reason)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(authorization_failed_v1, reason, attempt)

std::optional<event> upcast_authorized(const std::string& payload) {
  auto v1 = parse_json_as<authorized_v1>(payload);
  return v1 ? std::optional<event>{authorized{"", v1->psp_reference}} : std::nullopt;
}
std::optional<event> upcast_declined(const std::string& payload) {
  auto v1 = parse_json_as<declined_v1>(payload);
  return v1 ? std::optional<event>{declined{"", v1->reason}} : std::nullopt;
}
std::optional<event> upcast_authorization_failed(const std::string& payload) {
  auto v1 = parse_json_as<authorization_failed_v1>(payload);
  return v1 ? std::optional<event>{authorization_failed{"", v1->reason, v1->attempt}}
            : std::nullopt;
}

const event_parsers<event> parsers = {
    {wire::authorization_requested, parse_as<event, authorization_requested>},
    {wire::authorized, parse_as<event, authorized>},
    {wire::declined, parse_as<event, declined>},
    {wire::authorization_failed, parse_as<event, authorization_failed>},
    {wire::hold_released, parse_as<event, hold_released>},
    {wire::captured, parse_as<event, captured>},
    {wire::capture_confirmed, parse_as<event, capture_confirmed>},
    {wire::refunded, parse_as<event, refunded>},
    {wire::refund_confirmed, parse_as<event, refund_confirmed>},
    {wire::voided, parse_as<event, voided>},
    {wire::sold, parse_as<event, sold>},
    {wire::sale_declined, parse_as<event, sale_declined>},
    {wire::sale_reversed, parse_as<event, sale_reversed>},
    {wire::authorized_v1, upcast_authorized},
    {wire::declined_v1, upcast_declined},
    {wire::authorization_failed_v1, upcast_authorization_failed},
};

} // namespace

encoded_event encode(const event& ev) {
  return std::visit(
      overloaded{
          [](const authorization_requested& x) {
            return encode_as(wire::authorization_requested, x);
          },
          [](const authorized& x) { return encode_as(wire::authorized, x); },
          [](const declined& x) { return encode_as(wire::declined, x); },
          [](const authorization_failed& x) { return encode_as(wire::authorization_failed, x); },
          [](const hold_released& x) { return encode_as(wire::hold_released, x); },
          [](const captured& x) { return encode_as(wire::captured, x); },
          [](const capture_confirmed& x) { return encode_as(wire::capture_confirmed, x); },
          [](const refunded& x) { return encode_as(wire::refunded, x); },
          [](const refund_confirmed& x) { return encode_as(wire::refund_confirmed, x); },
          [](const voided& x) { return encode_as(wire::voided, x); },
          [](const sold& x) { return encode_as(wire::sold, x); },
          [](const sale_declined& x) { return encode_as(wire::sale_declined, x); },
          [](const sale_reversed& x) { return encode_as(wire::sale_reversed, x); },
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
