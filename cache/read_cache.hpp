#pragma once

#include "cache/redis_client.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

namespace ordermesh::cache {

/// How read_cache stores values.
struct read_cache_options {
  /// Prepended to every key, so that cached reads do not collide with other Redis keys.
  std::string key_prefix = "om:cache:";
  /// Base time to live of a cached value.
  std::chrono::milliseconds ttl{30000};
  /// Each value lives ttl * (1 + jitter_fraction * U[0,1)), so that keys filled together do not
  /// expire together.
  double jitter_fraction = 0.1;
  /// When not empty, invalidate(key) also publishes `key` on this Redis channel (in the same
  /// script as the delete) when a copy of it may be held (it was marked by a read or held a
  /// value), so that other processes can drop their own copies of it.
  std::string invalidation_channel;
  /// How long a caller may keep its own copy of a value read() announced (e.g. an in-process
  /// cache): the key stays marked, and so announced on invalidation_channel, at least that long.
  std::chrono::milliseconds copies_kept_for{0};
  /// Most keys kept for a retry after their invalidation failed (see read_cache::invalidate).
  size_t max_pending_invalidations = 100000;
};

/// What read() found.
struct cache_read {
  /// The cached or loaded value; nullopt when the loader found nothing.
  std::optional<std::string> value;
  /// The key is marked as possibly cached for the next ttl * 3 + copies_kept_for, so its next
  /// invalidate() within that time is announced on invalidation_channel: a copy of `value` may
  /// be kept that long (until it hears that announcement). False when Redis failed: a copy kept
  /// would miss the invalidations of other processes.
  bool announced = false;
};

/// Counters for /metrics; each is monotonic.
struct read_cache_stats {
  /// Reads answered from Redis.
  uint64_t hits = 0;
  /// Reads not answered from Redis (absent key or Redis unavailable).
  uint64_t misses = 0;
  /// Loader calls (one per single-flight group).
  uint64_t loads = 0;
  /// Reads that waited for another caller's load of the same key instead of loading.
  uint64_t coalesced = 0;
  /// Failed Redis calls (reads went on without Redis).
  uint64_t redis_errors = 0;
  /// Loaded values not stored because the key was invalidated while they were being loaded.
  uint64_t stale_fills = 0;
  /// Keys whose invalidation failed and is not done yet (now, not monotonic): each is read from
  /// the source, not from Redis, until a later invalidation call drops it.
  uint64_t invalidations_pending = 0;
  /// Failed invalidations not kept for a retry because max_pending_invalidations were pending:
  /// those keys may keep their old values in Redis until their TTL.
  uint64_t invalidations_dropped = 0;
};

/// Cache-aside in front of a source of truth, with single-flight loading. Thread-safe.
///
/// Redis is an accelerator, never the source of truth: when it is down, reads go to the loader
/// (counted in redis_errors) and never fail because of Redis. Concurrent get_or_load() calls for
/// the same missing key in this process share one loader call. Redis calls are blocking and
/// serialized over one connection: never call this from CAF's cooperative scheduler threads.
class read_cache {
public:
  /// Loads the value from the source of truth; nullopt means "nothing to cache" (absent, or the
  /// load failed) and is returned as is, without caching. It should not throw; if it does, every
  /// caller waiting on that load gets the exception.
  using loader = std::function<std::optional<std::string>()>;

  read_cache(config::redis_config redis, read_cache_options options = {},
             redis_client_options client_options = {});

  /// The cached value of `key`, or else the loader's (which is then cached with the jittered TTL).
  std::optional<std::string> get_or_load(const std::string& key, const loader& load) {
    return read(key, load).value;
  }

  /// get_or_load(), also saying whether the caller may keep a copy of the value (see cache_read).
  /// Before loading, the key is marked as possibly cached (a mark key with a random token is
  /// created, or its expiry renewed): only marked keys cost invalidate() more than one DEL.
  cache_read read(const std::string& key, const loader& load);

  /// Removes `key` from Redis (after a write to the source of truth), and voids every load of it
  /// in flight: a loader that read the source before the write cannot store its stale value
  /// afterwards (a load marks the key first; this removes the mark, and a store succeeds only
  /// while the mark it began with is there). A key that was marked or held a value is announced
  /// on invalidation_channel; one that had neither (not read since its last invalidation or
  /// within ttl * 3 + copies_kept_for, so no one can hold it) costs one DEL. An error leaves the
  /// key pending (see below).
  cache_result<done> invalidate(const std::string& key);

  /// invalidate() of every key in one round trip (a few for thousands of keys: each is tried
  /// even if an earlier one failed, unless Redis is unreachable). An error (the first) means some
  /// keys still hold their old values in Redis: they are kept pending (at most
  /// max_pending_invalidations), read from the source meanwhile (in this process; other
  /// processes hear of them only once the invalidation is done), and taken along, a bounded
  /// number per call, by later calls of invalidate() or retry_pending_invalidations().
  cache_result<done> invalidate(const std::vector<std::string>& keys);

  /// Invalidates the keys whose invalidation failed before, if any, in up to 100 calls (call it
  /// now and then: when no other invalidation comes, they would otherwise keep their old values
  /// in Redis until their TTL).
  cache_result<done> retry_pending_invalidations();

  /// Lets the loads of `keys` in flight in this process finish for their callers, but no later
  /// caller joins them: each may have read the source before a change, so a caller that arrives
  /// after the change (announced by another process, or invalidate() here, which calls it)
  /// starts a load of its own.
  void forget_flights(const std::vector<std::string>& keys);

  /// The TTL to give a value now: ttl * (1 + jitter_fraction * U[0,1)).
  std::chrono::milliseconds jittered_ttl();

  /// A snapshot of the counters.
  read_cache_stats stats() const;

  /// The Redis key under which `key` is stored.
  std::string redis_key(const std::string& key) const { return options_.key_prefix + key; }

private:
  struct flight {
    std::shared_future<cache_read> result;
    /// Tells a leader whether the flight listed under its key is still its own.
    uint64_t number = 0;
  };

  std::optional<std::optional<std::string>> lookup(const std::string& key);
  /// Marks `key` as possibly cached for keep() and returns the mark's token; nullopt if Redis
  /// failed.
  std::optional<std::string> begin_load(const std::string& key);
  /// Stores `value` unless the key was invalidated (or its mark lapsed) since begin_load().
  /// Removes the mark begin_load() made for a load that found nothing (unless it is another's).
  void unmark(const std::string& key, const std::string& mark_before_load);
  /// Whether it stored.
  bool store(const std::string& key, const std::string& value, const std::string& mark_before_load);
  /// How long a key stays marked after a load or a store: longer than any value stored (ttl *
  /// (1 + jitter)) plus the copies callers keep of it.
  std::string keep() const {
    return std::to_string((options_.ttl * 3 + options_.copies_kept_for).count());
  }
  std::string mark_key(const std::string& key) const { return options_.key_prefix + "mark:" + key; }

  read_cache_options options_;
  std::mutex client_mutex_; // guards client_ (not thread-safe)
  redis_client client_;
  std::mutex flights_mutex_; // guards flights_, flights_started_ and random_ (jitter, tokens)
  std::unordered_map<std::string, flight> flights_;
  uint64_t flights_started_ = 0;
  std::mt19937_64 random_;
  std::atomic<uint64_t> hits_{0};
  std::atomic<uint64_t> misses_{0};
  std::atomic<uint64_t> loads_{0};
  std::atomic<uint64_t> coalesced_{0};
  std::atomic<uint64_t> redis_errors_{0};
  std::atomic<uint64_t> stale_fills_{0};
  std::atomic<uint64_t> invalidations_dropped_{0};

  /// Whether `key`'s invalidation failed and is not done yet (its Redis value may be old).
  bool invalidation_pending(const std::string& key) const;
  /// Keeps `keys` pending after their invalidation failed, up to max_pending_invalidations.
  void keep_pending(const std::vector<std::string>& keys);

  mutable std::mutex pending_mutex_; // guards pending_ and pending_failures_
  /// Pending keys, each with the number of the failure that left it pending: a retry drops a key
  /// only if no invalidation of it failed again meanwhile (for a later change).
  std::unordered_map<std::string, uint64_t> pending_;
  uint64_t pending_failures_ = 0;
  /// pending_.size(), read without the lock on every read (almost always 0).
  std::atomic<size_t> pending_count_{0};
};

} // namespace ordermesh::cache
