#pragma once

#include <chrono>
#include <cstdint>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace ordermesh::gateway {

/// A small in-process cache in front of Redis, so that a hot read is answered on the io thread
/// without a Redis round trip. Entries live at most `ttl` and are dropped at once by invalidate(),
/// called by this process's projection for every row it changes and for every invalidation heard
/// from other processes on Redis pub/sub (clear() when that subscription was interrupted). A fill
/// that started before an invalidation of its key is discarded, so an old value cannot come back
/// (the same race read_cache guards against in Redis). Bounded by bytes: the keys and values held
/// add up to at most `max_bytes` (the oldest fills go first, a value larger than that is not
/// kept), a fill first drops the entries that expired, and the bookkeeping holds exactly one key
/// per entry however often a key is invalidated and filled again. Thread-safe; never blocks for
/// long.
class near_cache {
public:
  using clock = std::chrono::steady_clock;

  near_cache(std::chrono::milliseconds ttl, size_t max_bytes) : ttl_(ttl), max_bytes_(max_bytes) {}

  /// The live value of `key`, if any.
  std::optional<std::string> get(const std::string& key, clock::time_point now = clock::now()) {
    std::lock_guard<std::mutex> lock{mutex_};
    auto it = entries_.find(key);
    if (it == entries_.end() || it->second.expires <= now) {
      return std::nullopt;
    }
    return it->second.value;
  }

  /// Call before loading `key` from below; pass the result to fill().
  uint64_t begin_fill(const std::string& key) {
    std::lock_guard<std::mutex> lock{mutex_};
    auto& f = fills_[key];
    ++f.loaders;
    return f.epoch;
  }

  /// Stores what was loaded unless `key` was invalidated since begin_fill(). `value` nullopt:
  /// nothing to store, just ends the fill.
  void fill(const std::string& key, uint64_t ticket, const std::optional<std::string>& value,
            clock::time_point now = clock::now()) {
    std::lock_guard<std::mutex> lock{mutex_};
    auto f = fills_.find(key);
    if (f == fills_.end()) {
      return; // a fill without begin_fill: nothing to vouch for it
    }
    const bool current = f->second.epoch == ticket;
    if (--f->second.loaders == 0) {
      fills_.erase(f);
    }
    if (!current || !value) {
      return;
    }
    drop(key);
    // Every entry lives ttl_ from its fill and order_ is in fill order: the expired are in front.
    while (!order_.empty() && entries_.at(order_.front()).expires <= now) {
      drop(order_.front());
    }
    const size_t cost = key.size() + value->size();
    if (cost > max_bytes_) {
      return;
    }
    while (bytes_ + cost > max_bytes_) {
      drop(order_.front());
    }
    auto& e = entries_[key];
    e.value = *value;
    e.expires = now + ttl_;
    e.position = order_.insert(order_.end(), key);
    bytes_ += cost;
  }

  /// Drops `key` and voids the fills of it in flight.
  void invalidate(const std::string& key) {
    std::lock_guard<std::mutex> lock{mutex_};
    drop(key);
    if (auto f = fills_.find(key); f != fills_.end()) {
      ++f->second.epoch;
    }
  }

  /// Drops every entry and voids every fill in flight (invalidations may have been missed).
  void clear() {
    std::lock_guard<std::mutex> lock{mutex_};
    entries_.clear();
    order_.clear();
    bytes_ = 0;
    for (auto& [key, f] : fills_) {
      ++f.epoch;
    }
  }

  size_t size() const {
    std::lock_guard<std::mutex> lock{mutex_};
    return entries_.size();
  }

  /// Keys remembered for trimming (exactly one per entry).
  size_t tracked_keys() const {
    std::lock_guard<std::mutex> lock{mutex_};
    return order_.size();
  }

  /// The bytes held: the sizes of the keys and values of the entries (never more than max_bytes).
  size_t bytes() const {
    std::lock_guard<std::mutex> lock{mutex_};
    return bytes_;
  }

private:
  /// Removes `key`'s entry, if any. The caller holds mutex_.
  void drop(const std::string& key) {
    auto it = entries_.find(key);
    if (it == entries_.end()) {
      return;
    }
    bytes_ -= it->first.size() + it->second.value.size();
    order_.erase(it->second.position);
    entries_.erase(it);
  }

  struct entry {
    std::string value;
    clock::time_point expires;
    std::list<std::string>::iterator position; // in order_
  };
  struct fill_state {
    uint64_t epoch = 0;
    uint32_t loaders = 0;
  };
  const std::chrono::milliseconds ttl_;
  const size_t max_bytes_;
  mutable std::mutex mutex_;
  size_t bytes_ = 0;
  std::unordered_map<std::string, entry> entries_;
  // The keys of entries_, oldest fill first (so also soonest to expire); one per entry.
  std::list<std::string> order_;
  std::unordered_map<std::string, fill_state> fills_;
};

/// Rate-limit tokens taken from the shared Redis bucket in small leases and spent locally, so that
/// most requests are admitted without a Redis round trip while the limit still holds across
/// processes (each process can run ahead by at most one lease per client). Unspent tokens lapse
/// after `lease_ttl`, so a lease never outlives the rate it was taken at. Thread-safe.
class token_leases {
public:
  using clock = std::chrono::steady_clock;

  token_leases(uint32_t lease_size, std::chrono::milliseconds lease_ttl, size_t max_clients)
      : lease_size_(lease_size), lease_ttl_(lease_ttl), max_clients_(max_clients) {}

  /// How many tokens to ask Redis for at a time.
  uint32_t lease_size() const { return lease_size_; }

  /// Spends one leased token of `client`, if it has one.
  bool try_take(const std::string& client, clock::time_point now = clock::now()) {
    std::lock_guard<std::mutex> lock{mutex_};
    auto it = leases_.find(client);
    if (it == leases_.end() || it->second.tokens == 0 || it->second.expires <= now) {
      return false;
    }
    --it->second.tokens;
    return true;
  }

  /// Adds `tokens` just taken from Redis for `client` (replacing a lapsed lease).
  void add(const std::string& client, uint32_t tokens, clock::time_point now = clock::now()) {
    std::lock_guard<std::mutex> lock{mutex_};
    if (leases_.size() >= max_clients_ && leases_.find(client) == leases_.end()) {
      for (auto it = leases_.begin(); it != leases_.end();) {
        it = it->second.expires <= now ? leases_.erase(it) : std::next(it);
      }
      if (leases_.size() >= max_clients_) {
        return; // too many clients at once: they go to Redis every time
      }
    }
    auto& l = leases_[client];
    if (l.expires <= now) {
      l.tokens = 0;
    }
    l.tokens += tokens;
    l.expires = now + lease_ttl_;
  }

private:
  struct lease {
    uint32_t tokens = 0;
    clock::time_point expires;
  };
  const uint32_t lease_size_;
  const std::chrono::milliseconds lease_ttl_;
  const size_t max_clients_;
  std::mutex mutex_;
  std::unordered_map<std::string, lease> leases_;
};

} // namespace ordermesh::gateway
