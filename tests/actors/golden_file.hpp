#pragma once

#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

namespace ordermesh::actors::testing {

/// The text of tests/actors/golden/<wire_name>.json: the payload a v1 event is stored with.
inline std::string golden_text(const std::string& wire_name) {
  std::ifstream in{std::string{OM_ACTORS_GOLDEN_DIR} + "/" + wire_name + ".json"};
  if (!in) {
    throw std::runtime_error("missing golden file for " + wire_name);
  }
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

/// Compares JSON texts as values, so that formatting and key order do not matter.
inline bool same_json(const std::string& x, const std::string& y) {
  return nlohmann::json::parse(x) == nlohmann::json::parse(y);
}

} // namespace ordermesh::actors::testing
