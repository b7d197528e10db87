#pragma once

#include "cache/redis_client.hpp"
#include "config/config.hpp"
#include "gateway/problem.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>

namespace ordermesh::gateway {

/// The first answer given to (client, Idempotency-Key), and the fingerprint of the body it was for.
struct first_answer {
  std::string fingerprint;
  response answer;
};

/// Remembers first answers in Redis for `ttl`, so that a retry gets the same answer as the
/// first: the order knows the order, not the answer given (a ?wait answer's status depends on
/// when it was given). Read only for a command the order says it had (or that failed), never
/// before a first placement. Not the truth: when Redis is down or was flushed, lookup() finds
/// nothing and the retry is answered from the order entity, whose id is derived from the same
/// client and key, so it is still the same order (and a different body is still refused).
/// Thread-safe; blocking.
class idempotency_store {
public:
  explicit idempotency_store(config::redis_config redis,
                             std::chrono::milliseconds ttl = std::chrono::hours{24});

  /// The first answer for (client, key), if Redis has it.
  std::optional<first_answer> lookup(const std::string& client, const std::string& key);

  /// Records the first answer (SET NX: an earlier record wins). Failures are ignored.
  void remember(const std::string& client, const std::string& key, const std::string& fingerprint,
                const response& answer);

  /// The calls made so far (for /metrics).
  struct calls {
    uint64_t lookups = 0;
    uint64_t remembers = 0;
  };
  calls stats() const { return {lookups_.load(), remembers_.load()}; }

private:
  std::string redis_key(const std::string& client, const std::string& key) const;

  std::chrono::milliseconds ttl_;
  std::atomic<uint64_t> lookups_{0};
  std::atomic<uint64_t> remembers_{0};
  std::mutex mutex_; // guards client_
  cache::redis_client client_;
};

} // namespace ordermesh::gateway
