#pragma once

// Named crash points for fault-injection tests (tests/system/crash_sweep_test.cpp,
// scripts/crash-sweep). A process started with
//
//   OM_FAIL_POINT=<name>[:<n>]
//
// ends with `_exit(fail_point_exit_code)` the n-th time (default: the first time) any thread
// passes `fail_point("<name>")`: no destructors, no flushing, no goodbye to PostgreSQL, like a
// power cut at that line. Without the variable, or at any other name, a call costs one load of a
// cached flag (the variable is read once, on the first call). Not ORDERMESH_*: the configuration
// loader refuses unknown ORDERMESH_ variables.

#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

namespace ordermesh::util {

/// The exit code of a process ended by a fail point, so that a test can tell it from a crash.
constexpr int fail_point_exit_code = 86;

/// The environment variable naming the armed fail point.
constexpr const char* fail_point_variable = "OM_FAIL_POINT";

/// The armed point as parsed from "<name>[:<n>]"; `armed` false when unset or malformed.
struct fail_point_setting {
  bool armed = false;
  std::string name;
  uint64_t nth = 1;
};

/// Parses "<name>[:<n>]" (n >= 1). Pure; exposed for its unit test.
inline fail_point_setting parse_fail_point(const char* text) {
  fail_point_setting s;
  if (text == nullptr || *text == '\0') {
    return s;
  }
  std::string value{text};
  auto colon = value.rfind(':');
  if (colon != std::string::npos) {
    auto count = value.substr(colon + 1);
    if (count.empty() || count.find_first_not_of("0123456789") != std::string::npos ||
        count.size() > 18) {
      return s;
    }
    s.nth = std::stoull(count);
    value.resize(colon);
  }
  if (value.empty() || s.nth == 0) {
    return s;
  }
  s.name = std::move(value);
  s.armed = true;
  return s;
}

namespace detail {

inline const fail_point_setting& armed_fail_point() {
  static const fail_point_setting setting = parse_fail_point(std::getenv(fail_point_variable));
  return setting;
}

inline std::atomic<uint64_t>& fail_point_hits() {
  static std::atomic<uint64_t> hits{0};
  return hits;
}

[[noreturn]] inline void die_at_fail_point(const char* name, uint64_t hit) {
  // write(2) and _exit(2) only: other threads may hold any lock (the logger's, malloc's).
  char line[256];
  const char prefix[] = "ordermesh: fail point reached, exiting: ";
  size_t n = 0;
  for (const char* p = prefix; *p != '\0' && n < sizeof line - 40; ++p) {
    line[n++] = *p;
  }
  for (const char* p = name; *p != '\0' && n < sizeof line - 40; ++p) {
    line[n++] = *p;
  }
  line[n++] = ':';
  char digits[24];
  size_t d = 0;
  do {
    digits[d++] = static_cast<char>('0' + hit % 10);
    hit /= 10;
  } while (hit > 0);
  while (d > 0) {
    line[n++] = digits[--d];
  }
  line[n++] = '\n';
  (void)!::write(2, line, n);
  ::_exit(fail_point_exit_code);
}

} // namespace detail

/// Ends the process (`_exit(fail_point_exit_code)`) if `name` is the armed point and this is its
/// n-th hit; otherwise does nothing. Thread-safe.
inline void fail_point(const char* name) {
  const auto& armed = detail::armed_fail_point();
  if (!armed.armed || std::strcmp(name, armed.name.c_str()) != 0) {
    return;
  }
  auto hit = detail::fail_point_hits().fetch_add(1) + 1;
  if (hit == armed.nth) {
    detail::die_at_fail_point(name, hit);
  }
}

/// What throw_point throws.
struct fail_point_thrown : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Like fail_point, but throws fail_point_thrown instead of ending the process: for code that
/// must survive an exception (one request's failure fails that request only). Thread-safe.
inline void throw_point(const char* name) {
  const auto& armed = detail::armed_fail_point();
  if (!armed.armed || std::strcmp(name, armed.name.c_str()) != 0) {
    return;
  }
  if (detail::fail_point_hits().fetch_add(1) + 1 == armed.nth) {
    throw fail_point_thrown{std::string{"fail point reached: "} + name};
  }
}

} // namespace ordermesh::util
