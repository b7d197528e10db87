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

} // namespace ordermesh::persistence
