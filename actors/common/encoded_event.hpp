#pragma once

#include <cstdint>
#include <string>

namespace ordermesh::actors {

/// An event as its aggregate's codec writes it: the stable wire name with its version
/// ("order.placed.v1"), the payload's schema version and the JSON payload. The domain knows no
/// storage: the entity runtime adds the metadata and appends it (runtime::to_new_event).
struct encoded_event {
  std::string type;
  int32_t schema_version = 1;
  /// JSON object text.
  std::string payload = "{}";
};

} // namespace ordermesh::actors
