#pragma once

#include "util/fields.hpp"

#include <cstdint>
#include <string>
#include <variant>

/// Messages of one order's customer notification (stream "notification/<order_id>").
namespace ordermesh::actors::notification {

/// How the order ended.
enum class terminal_status : uint8_t { confirmed, rejected, cancelled };

// -- commands -------------------------------------------------------------------------------------

struct record_notification {
  std::string order_id;
  terminal_status status = terminal_status::confirmed;
};

using command = std::variant<record_notification>;

// -- events ---------------------------------------------------------------------------------------

struct notification_recorded {
  std::string order_id;
  terminal_status status = terminal_status::confirmed;
};

using event = std::variant<notification_recorded>;

// -- field lists: inspect() (CAF serialization) and operator==/!= (util/fields.hpp) --

OM_FIELDS(record_notification, order_id, status)
OM_FIELDS(notification_recorded, order_id, status)

} // namespace ordermesh::actors::notification
