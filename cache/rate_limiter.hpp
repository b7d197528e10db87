#pragma once

#include "cache/redis_client.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

namespace ordermesh::cache {

/// One token bucket per client key.
struct rate_limit_options {
  /// Prepended to every client key in Redis.
  std::string key_prefix = "om:rl:";
  /// Most tokens a bucket holds (the burst); a new bucket starts full. Must be positive.
  uint32_t capacity = 20;
  /// Tokens added per second. Must be positive.
  double refill_per_second = 10.0;
  /// Most client buckets the local fallback keeps; beyond it the buckets that are full again go
  /// first, then the longest idle ones. Must be positive.
  size_t max_local_clients = 100000;
};

/// The answer for one request.
struct rate_decision {
  /// Whether the request may go ahead (its tokens were taken).
  bool allowed = false;
  /// When denied: how long until enough tokens are back (always > 0); 0 when allowed.
  std::chrono::milliseconds retry_after{0};
  /// Whether Redis was unavailable and the local, per-process bucket decided (so the limit holds
  /// per process rather than across the fleet).
  bool degraded = false;
};

/// Counters for /metrics; each is monotonic.
struct rate_limiter_stats {
  uint64_t allowed = 0;
  uint64_t denied = 0;
  /// Decisions taken by the local fallback bucket because Redis failed.
  uint64_t degraded = 0;
};

/// A token-bucket rate limiter shared through Redis: one Lua script reads, refills, takes and
/// stores the bucket (tokens and last refill time in a hash, PEXPIRE'd once it would be full
/// again) atomically, with Redis's clock. When Redis is unavailable the same parameters are applied
/// by an in-process bucket per key (at most options.max_local_clients of them), and the decision
/// says it is degraded; it never fails.
/// Thread-safe; blocking (never call it from CAF's cooperative scheduler threads).
class rate_limiter {
public:
  rate_limiter(config::redis_config redis, rate_limit_options options,
               redis_client_options client_options = {});

  /// Takes `cost` tokens (cost <= capacity) from `client_key`'s bucket, or says how long to wait.
  rate_decision acquire(const std::string& client_key, uint32_t cost = 1);

  rate_limiter_stats stats() const;

  /// Client buckets the local fallback holds now (at most options.max_local_clients).
  size_t local_buckets();

  /// The Lua script run by acquire() (KEYS[1] bucket; ARGV capacity, tokens per ms, cost).
  static const std::string& script();

private:
  struct local_bucket {
    double tokens = 0;
    std::chrono::steady_clock::time_point refilled;
  };

  rate_decision acquire_local(const std::string& client_key, uint32_t cost);
  /// Makes room in local_ for one more client (local_mutex_ held).
  void trim_local(std::chrono::steady_clock::time_point now);
  rate_decision count(rate_decision d);

  rate_limit_options options_;
  std::mutex client_mutex_; // guards client_ (not thread-safe)
  redis_client client_;
  std::mutex local_mutex_; // guards local_
  std::unordered_map<std::string, local_bucket> local_;
  std::atomic<uint64_t> allowed_{0};
  std::atomic<uint64_t> denied_{0};
  std::atomic<uint64_t> degraded_{0};
};

} // namespace ordermesh::cache
