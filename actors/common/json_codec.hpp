#pragma once

#include "actors/common/encoded_event.hpp"

#include <nlohmann/json.hpp>

#include <map>
#include <string_view>

#include <optional>
#include <string>
#include <vector>

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

/// The event of wire name `type`, schema version 1, payload from `ev`'s to_json.
template <class Event>
encoded_event encode_as(const char* type, const Event& ev) {
  return encoded_event{type, 1, nlohmann::json(ev).dump()};
}

/// Reads one alternative of an aggregate's event variant from its JSON payload.
template <class Variant, class Alternative>
std::optional<Variant> parse_as(const std::string& payload_json) {
  if (auto ev = parse_json_as<Alternative>(payload_json)) {
    return Variant{std::move(*ev)};
  }
  return std::nullopt;
}

/// Wire name -> reader of that event, one table per aggregate codec.
template <class Variant>
using event_parsers = std::map<std::string_view, std::optional<Variant> (*)(const std::string&)>;

/// The wire names a table reads, in name order.
template <class Variant>
std::vector<std::string> wire_names_of(const event_parsers<Variant>& parsers) {
  std::vector<std::string> names;
  for (const auto& [name, parse] : parsers) {
    names.emplace_back(name);
  }
  return names;
}

/// The event for a stored type and schema version, or nullopt for an unknown type, an unknown
/// version (all events are at version 1 today; an upcaster goes here) or a malformed payload.
template <class Variant>
std::optional<Variant> decode_with(const event_parsers<Variant>& parsers, const std::string& type,
                                   int32_t schema_version, const std::string& payload_json) {
  auto i = parsers.find(type);
  if (i == parsers.end() || schema_version != 1) {
    return std::nullopt;
  }
  return i->second(payload_json);
}

} // namespace ordermesh::actors
