#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>

namespace ordermesh::actors {

/// Parses `text` and converts it with `from_json`; nullopt for malformed JSON or a payload that
/// lacks a field or has one of the wrong type. Codecs are the boundary where JSON exceptions stop.
template <class T>
std::optional<T> parse_json_as(const std::string& text) {
  try {
    return nlohmann::json::parse(text).get<T>();
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;
  }
}

} // namespace ordermesh::actors
