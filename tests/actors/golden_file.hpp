#pragma once

#include "actors/common/encoded_event.hpp"

#include <boost/test/unit_test.hpp>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

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

/// One aggregate's event codec and an example of every event with its wire name; the golden files
/// hold these values. The checks every codec test runs against them:
template <class Event>
struct codec_examples {
  std::vector<std::pair<const char*, Event>> examples;
  encoded_event (*encode)(const Event&);
  std::optional<Event> (*decode)(const std::string& type, int32_t schema_version,
                                 const std::string& payload_json);

  /// encode then decode gives the event back, stored under its wire name at schema version 1.
  void check_round_trips() const {
    for (const auto& [name, ev] : examples) {
      auto stored = encode(ev);
      BOOST_TEST(stored.type == name);
      BOOST_TEST(stored.schema_version == 1);
      auto back = decode(stored.type, stored.schema_version, stored.payload);
      BOOST_REQUIRE_MESSAGE(back, name);
      BOOST_CHECK_MESSAGE(*back == ev, name);
    }
  }

  /// Each golden payload decodes to its example.
  void check_golden_payloads_decode() const {
    for (const auto& [name, ev] : examples) {
      auto back = decode(name, 1, golden_text(name));
      BOOST_REQUIRE_MESSAGE(back, name);
      BOOST_CHECK_MESSAGE(*back == ev, name);
    }
  }

  /// Each example encodes to its golden payload (compared as JSON values).
  void check_events_encode_to_golden_payloads() const {
    for (const auto& [name, ev] : examples) {
      BOOST_CHECK_MESSAGE(same_json(encode(ev).payload, golden_text(name)), name);
    }
  }
};

} // namespace ordermesh::actors::testing
