#include "actors/notification/codec.hpp"

#include "actors/common/json_codec.hpp"
#include "actors/common/overloaded.hpp"

#include <nlohmann/json.hpp>

namespace ordermesh::actors::notification {

// The status is part of the event payload, so an unknown name must fail rather than default.
void to_json(nlohmann::json& j, const terminal_status& x) {
  switch (x) {
    case terminal_status::confirmed:
      j = "confirmed";
      return;
    case terminal_status::rejected:
      j = "rejected";
      return;
    case terminal_status::cancelled:
      j = "cancelled";
      return;
  }
}

void from_json(const nlohmann::json& j, terminal_status& x) {
  auto name = j.get<std::string>();
  if (name == "confirmed") {
    x = terminal_status::confirmed;
  } else if (name == "rejected") {
    x = terminal_status::rejected;
  } else if (name == "cancelled") {
    x = terminal_status::cancelled;
  } else {
    throw nlohmann::json::type_error::create(302, "unknown terminal status " + name, &j);
  }
}

// Field names below are the wire contract: never rename one.
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(notification_recorded, order_id, status)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(notification_state, order_id, notified, status)

encoded_event encode(const event& ev) {
  return std::visit(overloaded{[](const notification_recorded& x) {
                      return encode_as(wire::notification_recorded, x);
                    }},
                    ev);
}

std::optional<event> decode(const std::string& type, int32_t schema_version,
                            const std::string& payload_json) {
  static const event_parsers<event> parsers = {
      {wire::notification_recorded, parse_as<event, notification_recorded>},
  };
  return decode_with(parsers, type, schema_version, payload_json);
}

std::string encode_snapshot(const notification_state& state) {
  return nlohmann::json(state).dump();
}

std::optional<notification_state> decode_snapshot(const std::string& payload_json) {
  return parse_json_as<notification_state>(payload_json);
}

} // namespace ordermesh::actors::notification
