#pragma once

#include "util/fields.hpp"

#include <cstdint>
#include <string>

/// What a notification entity answers to a command it accepted (a rejection is a caf::error of
/// notification_errc, errors.hpp).
namespace ordermesh::actors::notification {

struct notification_summary {
  std::string order_id;
  bool notified = false;
};

/// The reply to an accepted notification command.
struct notification_reply {
  /// The stream's version after the command.
  int64_t version = 0;
  notification_summary summary;
};

OM_FIELDS(notification_summary, order_id, notified)
OM_FIELDS(notification_reply, version, summary)

} // namespace ordermesh::actors::notification
