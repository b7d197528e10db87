#pragma once

#include "actors/common/envelope.hpp"
#include "util/json_string.hpp"

#include <string>
#include <string_view>

namespace ordermesh::actors::runtime {

/// The event metadata recorded with every event a command causes, as JSON text:
/// `{"causation_id":"…","correlation_id":"…","message_id":"…","traceparent":"…"}` (keys sorted,
/// no spaces; bytes that are not valid UTF-8, anything a client put in an envelope, become
/// U+FFFD). The same bytes nlohmann::json's lenient dump of that object gives, written directly:
/// it is made for every command. Never throws on client bytes.
inline std::string event_metadata(const envelope& env) {
  constexpr std::string_view causation = R"({"causation_id":)";
  constexpr std::string_view correlation = R"(,"correlation_id":)";
  constexpr std::string_view message = R"(,"message_id":)";
  constexpr std::string_view trace = R"(,"traceparent":)";
  std::string out;
  // Room for the keys, the quotes and the closing brace; escapes may grow it further.
  out.reserve(causation.size() + correlation.size() + message.size() + trace.size() + 9 +
              env.causation_id.size() + env.correlation_id.size() + env.message_id.size() +
              env.traceparent.size());
  out.append(causation);
  util::append_json_string(out, env.causation_id);
  out.append(correlation);
  util::append_json_string(out, env.correlation_id);
  out.append(message);
  util::append_json_string(out, env.message_id);
  out.append(trace);
  util::append_json_string(out, env.traceparent);
  out.push_back('}');
  return out;
}

} // namespace ordermesh::actors::runtime
