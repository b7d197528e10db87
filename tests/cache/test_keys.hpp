#pragma once

#include "config/config.hpp"

#include <atomic>
#include <random>
#include <string>
#include <unistd.h>

namespace ordermesh::testing {

/// A key prefix no other test run uses, so that tests share one Redis without interfering.
inline std::string unique_prefix(const std::string& what) {
  static std::atomic<int> counter{0};
  std::random_device rd;
  return "om_test:" + what + ":" + std::to_string(::getpid()) + ":" + std::to_string(counter++) +
         ":" + std::to_string(rd() % 1000000) + ":";
}

/// A Redis address where nothing listens (port 1 refuses at once).
inline config::redis_config unreachable_redis() {
  config::redis_config r;
  r.host = "127.0.0.1";
  r.port = 1;
  return r;
}

} // namespace ordermesh::testing
