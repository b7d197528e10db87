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

persistence::new_event encode(const event& ev) {
  return std::visit(overloaded{[](const notification_recorded& x) {
                      return persistence::new_event{wire::notification_recorded, 1,
                                                    nlohmann::json(x).dump(), "{}"};
                    }},
                    ev);
}

std::optional<event> decode(const std::string& type, int32_t schema_version,
                            const std::string& payload_json) {
  if (type != wire::notification_recorded || schema_version != 1) {
    return std::nullopt;
  }
  if (auto ev = parse_json_as<notification_recorded>(payload_json)) {
    return event{std::move(*ev)};
  }
  return std::nullopt;
}

std::string encode_snapshot(const notification_state& state) {
  return nlohmann::json(state).dump();
}

std::optional<notification_state> decode_snapshot(const std::string& payload_json) {
  return parse_json_as<notification_state>(payload_json);
}

} // namespace ordermesh::actors::notification
