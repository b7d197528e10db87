#include "persistence/result.hpp"
#include "persistence/event.hpp"

namespace ordermesh::persistence {

std::string to_string(append_status x) {
  switch (x) {
    case append_status::committed:
      return "committed";
    case append_status::version_conflict:
      return "version_conflict";
  }
  return "unknown";
}

std::string invalid_append(const stream_append& a) {
  if (a.events.empty() || a.expected_version < no_stream || a.stream_id.empty()) {
    return "append: stream '" + a.stream_id +
           "' needs a name, at least one event and an expected version >= 0";
  }
  return "";
}

std::string to_string(store_errc x) {
  switch (x) {
    case store_errc::nil:
      return "nil";
    case store_errc::unavailable:
      return "unavailable";
    case store_errc::outcome_unknown:
      return "outcome_unknown";
    case store_errc::overloaded:
      return "overloaded";
    case store_errc::invalid_request:
      return "invalid_request";
    case store_errc::rejected:
      return "rejected";
  }
  return "unknown";
}

bool rolled_back(std::string_view sqlstate) {
  return sqlstate == "40P01" || sqlstate == "40001";
}

store_errc classify_failure(std::string_view sqlstate, bool connection_open, bool writes) {
  // Class 08: connection exception; 57P0x: the server shut down, crashed or ended the session.
  // The server sends those even after a COMMIT went through, just before it closes.
  bool connection_state =
      sqlstate.empty() || sqlstate.rfind("08", 0) == 0 || sqlstate.rfind("57P0", 0) == 0;
  if (connection_state || !connection_open) {
    return writes ? store_errc::outcome_unknown : store_errc::unavailable;
  }
  if (rolled_back(sqlstate)) {
    return store_errc::unavailable; // a deadlock or serialization victim: nothing was written
  }
  if (sqlstate == "40003") { // statement completion unknown
    return writes ? store_errc::outcome_unknown : store_errc::unavailable;
  }
  // What one statement's content causes (22 data exception, 23 integrity constraint, 42 syntax or
  // access rule, 54 program limit, 40002 a deferred constraint at commit) fails that statement
  // alone; anything else (read-only standby, disk full, timeouts, I/O, internal errors) means the
  // database cannot take writes now, whatever they hold.
  for (const char* content_class : {"22", "23", "42", "54", "40"}) {
    if (sqlstate.rfind(content_class, 0) == 0) {
      return store_errc::rejected;
    }
  }
  return store_errc::unavailable;
}

} // namespace ordermesh::persistence
