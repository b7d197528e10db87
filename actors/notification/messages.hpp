#pragma once

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

// -- inspection (CAF serialization) ---------------------------------------------------------------

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, record_notification& x) {
  return f(x.order_id, x.status);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, notification_recorded& x) {
  return f(x.order_id, x.status);
}

// -- equality -------------------------------------------------------------------------------------

inline bool operator==(const notification_recorded& x, const notification_recorded& y) {
  return x.order_id == y.order_id && x.status == y.status;
}

} // namespace ordermesh::actors::notification
