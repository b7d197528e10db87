#pragma once

#include "cache/redis_client.hpp"
#include "config/config.hpp"
#include "gateway/problem.hpp"

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

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
///
/// Records are written together: remember() only queues one (bounded) and never waits; the
/// record that finds no write under way posts one drain (`post_drain`, e.g. to a gateway worker),
/// which sends everything queued as pipelined SETs on one connection, one round trip per batch,
/// and takes what queued meanwhile until the queue is empty (or posts itself again after a few
/// round trips, so that a worker is not held for as long as records come). Thread-safe; lookup()
/// blocks.
class idempotency_store {
public:
  /// Runs `drain` on a thread that may block (a gateway worker), before the store is destroyed;
  /// false when it cannot take the task (its queue full, or stopping).
  using drain_poster = std::function<bool(std::function<void()> drain)>;

  idempotency_store(config::redis_config redis, drain_poster post_drain,
                    std::chrono::milliseconds ttl = std::chrono::hours{24},
                    size_t max_queued = 4096);

  /// The first answer for (client, key), if Redis has it or it is queued to be written.
  std::optional<first_answer> lookup(const std::string& client, const std::string& key);

  /// Queues the first answer to be recorded (SET NX: an earlier record wins) and returns at
  /// once. Not recorded (counted) when `max_queued` records wait already or no drain can be
  /// posted; a Redis failure loses only the records of the round trip it hit.
  void remember(const std::string& client, const std::string& key, const std::string& fingerprint,
                response answer);

  /// The calls made so far (for /metrics).
  struct calls {
    uint64_t lookups = 0;
    /// Records sent to Redis and answered (stored, or an earlier record kept).
    uint64_t remembers = 0;
    /// Round trips that carried them (pipelines of SETs): remembers / round_trips is the batch.
    uint64_t round_trips = 0;
    /// Records not written: the queue was full ...
    uint64_t queue_full = 0;
    /// ... no drain could be posted (the pool's task queue full, or the pool stopping) ...
    uint64_t not_posted = 0;
    /// ... or Redis failed (unreachable, timed out, an error reply).
    uint64_t redis_errors = 0;
  };
  calls stats() const;

private:
  struct record {
    std::string redis_key;
    /// Shared with unwritten_: made once, never copied.
    std::shared_ptr<const first_answer> first;
  };

  std::string redis_key(const std::string& client, const std::string& key) const;
  /// Sends what is queued, batch after batch, until the queue is empty; after batches_per_drain
  /// round trips it posts a new drain for the rest (and goes on itself if the pool refuses).
  void drain();
  void write(const std::vector<record>& batch);

  /// Round trips one drain makes before it gives its worker back (a steady stream of records
  /// must not keep a gateway worker from the reads queued behind it).
  static constexpr int batches_per_drain = 4;

  const std::chrono::milliseconds ttl_;
  const size_t max_queued_;
  const drain_poster post_drain_;
  std::atomic<uint64_t> lookups_{0};
  std::atomic<uint64_t> remembers_{0};
  std::atomic<uint64_t> round_trips_{0};
  std::atomic<uint64_t> queue_full_{0};
  std::atomic<uint64_t> not_posted_{0};
  std::atomic<uint64_t> redis_errors_{0};

  std::mutex queue_mutex_; // guards queued_, unwritten_ and draining_
  std::vector<record> queued_;
  /// The first answer of every record queued or being written, by Redis key: what lookup()
  /// answers before Redis has it. A key here is not queued again (SET NX: the first one wins).
  std::unordered_map<std::string, std::shared_ptr<const first_answer>> unwritten_;
  /// A drain is posted or running: it takes what is queued, so no other is posted.
  bool draining_ = false;

  std::mutex client_mutex_; // guards client_
  cache::redis_client client_;
};

} // namespace ordermesh::gateway
