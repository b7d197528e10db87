#pragma once

// What every answer of the gateway must be, whatever the input: checked after each fuzz input.
// A failed check aborts, which libFuzzer reports as a crash with the input that caused it.

#include "gateway/problem.hpp"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(cond)                                                                           \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      std::fprintf(stderr, "fuzz check failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__);          \
      std::abort();                                                                                \
    }                                                                                              \
  } while (0)

namespace ordermesh::fuzz {

/// `r` has a real status, and when it says it is problem+json it is one (RFC 9457): a JSON object
/// in valid UTF-8 (nlohmann's parser refuses anything else) with string type/title/detail and the
/// answer's own status.
/// With FUZZ_TRACE set in the environment, every answer is printed to stderr: run a target on one
/// input (`build-fuzz/fuzz/fuzz_http_request <file>`) to see what the gateway answered.
inline void check_answer(const gateway::response& r) {
  static const bool trace = std::getenv("FUZZ_TRACE") != nullptr;
  if (trace) {
    std::fprintf(stderr, "answer %u %s %s\n", r.status, r.content_type.c_str(), r.body.c_str());
  }
  FUZZ_CHECK(r.status >= 100 && r.status <= 599);
  if (r.content_type != "application/problem+json") {
    return;
  }
  FUZZ_CHECK(r.status >= 400);
  const auto doc = nlohmann::json::parse(r.body, nullptr, false);
  FUZZ_CHECK(doc.is_object());
  FUZZ_CHECK(doc.value("status", 0u) == r.status);
  FUZZ_CHECK(doc.contains("type") && doc["type"].is_string());
  FUZZ_CHECK(doc.contains("title") && doc["title"].is_string());
  FUZZ_CHECK(doc.contains("detail") && doc["detail"].is_string());
}

/// A rejected body is told as 400 (not JSON, not an object) or 422 (a field is wrong, each named
/// by a JSON pointer in "errors"), and its answer is a well-formed problem.
inline void check_body_problem(const gateway::problem_details& p) {
  FUZZ_CHECK(p.status == 400 || p.status == 422);
  if (p.status == 422) {
    const auto& errors = p.extensions.at("errors");
    FUZZ_CHECK(errors.is_array() && !errors.empty());
    for (const auto& e : errors) {
      FUZZ_CHECK(e.at("pointer").get<std::string>().rfind('/', 0) == 0);
      FUZZ_CHECK(!e.at("detail").get<std::string>().empty());
    }
  }
  check_answer(gateway::make_problem(p));
}

} // namespace ordermesh::fuzz
