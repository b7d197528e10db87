#pragma once

#include <caf/error.hpp>
#include <caf/make_message.hpp>
#include <caf/message.hpp>

#include <cstdint>
#include <string>

namespace ordermesh::actors::notification {

/// Why a notification command was rejected (nothing recorded).
/// A rejection travels as a caf::error of category "notify" (registered below; rendered by
/// core::configure), its context the reason text.
enum class notification_errc : uint8_t {
  nil = 0,
  /// No order id, or one that is not this stream's order.
  invalid_notification,
  /// The order was already notified with another terminal status.
  conflicting_notification,
};

inline std::string to_string(notification_errc x) {
  switch (x) {
    case notification_errc::nil:
      return "nil";
    case notification_errc::invalid_notification:
      return "invalid_notification";
    case notification_errc::conflicting_notification:
      return "conflicting_notification";
  }
  return "<unknown notification_errc>";
}

} // namespace ordermesh::actors::notification

CAF_ERROR_CODE_ENUM(ordermesh::actors::notification::notification_errc, "notify")
