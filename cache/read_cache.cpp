#include "cache/read_cache.hpp"

#include <algorithm>

#include <exception>

namespace ordermesh::cache {

read_cache::read_cache(config::redis_config redis, read_cache_options options,
                       redis_client_options client_options)
    : options_(std::move(options)), client_(std::move(redis), client_options),
      random_(std::random_device{}()) {}

std::optional<std::optional<std::string>> read_cache::lookup(const std::string& key) {
  cache_result<std::optional<std::string>> r = cache_error{};
  {
    std::lock_guard<std::mutex> guard{client_mutex_};
    r = client_.get(redis_key(key));
  }
  if (!r) {
    ++redis_errors_;
    return std::nullopt;
  }
  return std::move(r).value();
}

namespace {

/// KEYS[1] mark; ARGV[1] keep ms, ARGV[2] a new random token. Marks the key as possibly cached
/// for keep ms (so that invalidations of it drop and announce it): renews the mark, or makes one
/// with the new token. Returns the mark's token.
const std::string mark_for_load = R"lua(
local token = redis.call('GET', KEYS[1])
if token then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  return token
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[1])
return ARGV[2]
)lua";

/// KEYS[1] value, KEYS[2] mark; ARGV value, ttl ms, the mark's token before loading, keep ms.
/// Stores the value only if the mark the load made or renewed is still there (no invalidation
/// removed it since; a later mark has another token), and keeps the mark for longer than the
/// value.
const std::string store_if_current = R"lua(
if redis.call('GET', KEYS[2]) == ARGV[3] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  redis.call('PEXPIRE', KEYS[2], ARGV[4])
  return 1
end
return 0
)lua";

/// KEYS[1] mark; ARGV[1] the token a load got. Removes the mark if it is still that load's: a
/// load that found nothing leaves no key behind (a scan of absent ids must not fill Redis).
const std::string unmark_if_mine = R"lua(
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
end
return 1
)lua";

/// KEYS: (value, mark) pairs; ARGV[1] channel ('' for none), then each pair's key. Drops each
/// key's value and mark, which voids the loads in flight; a key that had either may be held
/// elsewhere, so it is announced. A key with neither was not loaded within the keep period: no
/// one holds it, and it costs one DEL.
const std::string drop_and_announce = R"lua(
for i = 1, #KEYS, 2 do
  if redis.call('DEL', KEYS[i], KEYS[i + 1]) > 0 and ARGV[1] ~= '' then
    redis.call('PUBLISH', ARGV[1], ARGV[1 + (i + 1) / 2])
  end
end
return 1
)lua";

/// Keys per script call: a page of changes is one round trip, a huge one a few.
constexpr size_t keys_per_call = 256;
/// Most pending keys (whose invalidation failed before) that one invalidate() call takes along.
constexpr size_t retried_per_call = 4 * keys_per_call;

} // namespace

std::optional<std::string> read_cache::begin_load(const std::string& key) {
  uint64_t token = 0;
  {
    std::lock_guard<std::mutex> guard{flights_mutex_};
    token = random_();
  }
  std::lock_guard<std::mutex> guard{client_mutex_};
  auto r = client_.eval(mark_for_load, {mark_key(key)}, {keep(), std::to_string(token)});
  if (!r) {
    ++redis_errors_;
    return std::nullopt;
  }
  if (r->type != redis_reply::kind::string) {
    ++redis_errors_;
    return std::nullopt;
  }
  return r->str;
}

bool read_cache::store(const std::string& key, const std::string& value,
                       const std::string& mark_before_load) {
  auto ttl = jittered_ttl();
  std::lock_guard<std::mutex> guard{client_mutex_};
  auto r = client_.eval(store_if_current, {redis_key(key), mark_key(key)},
                        {value, std::to_string(ttl.count()), mark_before_load, keep()});
  if (!r) {
    ++redis_errors_;
    return false;
  }
  if (r->integer == 0) {
    ++stale_fills_;
    return false;
  }
  return true;
}

void read_cache::unmark(const std::string& key, const std::string& mark_before_load) {
  std::lock_guard<std::mutex> guard{client_mutex_};
  if (!client_.eval(unmark_if_mine, {mark_key(key)}, {mark_before_load})) {
    ++redis_errors_;
  }
}

std::chrono::milliseconds read_cache::jittered_ttl() {
  double u = 0;
  {
    std::lock_guard<std::mutex> guard{flights_mutex_};
    u = std::uniform_real_distribution<double>{0.0, 1.0}(random_);
  }
  auto ms = static_cast<double>(options_.ttl.count()) * (1.0 + options_.jitter_fraction * u);
  return std::chrono::milliseconds{std::max<int64_t>(1, static_cast<int64_t>(ms))};
}

cache_read read_cache::read(const std::string& key, const loader& load) {
  // A key whose invalidation failed may hold its old value in Redis: it is loaded from the
  // source, neither read from Redis nor stored there, and not announced (no copy may be kept).
  const bool stale_in_redis = invalidation_pending(key);
  if (!stale_in_redis) {
    if (auto cached = lookup(key); cached && *cached) {
      ++hits_;
      // A stored value keeps its key marked for longer than it lives.
      return cache_read{std::move(**cached), true};
    }
  }
  ++misses_;
  std::promise<cache_read> promise;
  uint64_t mine = 0;
  {
    std::unique_lock<std::mutex> guard{flights_mutex_};
    if (auto it = flights_.find(key); it != flights_.end()) {
      auto shared = it->second.result;
      guard.unlock();
      ++coalesced_;
      return shared.get();
    }
    mine = ++flights_started_;
    flights_.emplace(key, flight{promise.get_future().share(), mine});
  }
  // Ends this flight for later callers, unless forget_flights() already did (another may be
  // listed under the key since).
  auto end_flight = [&] {
    std::lock_guard<std::mutex> guard{flights_mutex_};
    if (auto it = flights_.find(key); it != flights_.end() && it->second.number == mine) {
      flights_.erase(it);
    }
  };
  // This caller leads the flight. A previous leader may have filled the key between our GET and
  // our registration: look again before loading, so a burst of callers loads at most once.
  cache_read result;
  bool loaded = false;
  // Mark before loading: an invalidation between here and the store finds the mark (so it is
  // announced) and removes it, and the store then keeps the (possibly stale) value out of Redis.
  auto mark_before_load = stale_in_redis ? std::nullopt : begin_load(key);
  result.announced = mark_before_load.has_value();
  try {
    std::optional<std::optional<std::string>> cached;
    if (!stale_in_redis) {
      cached = lookup(key);
    }
    if (cached && *cached) {
      result.value = std::move(*cached);
    } else {
      ++loads_;
      loaded = true;
      result.value = load();
    }
  } catch (...) {
    promise.set_exception(std::current_exception());
    end_flight();
    throw;
  }
  if (loaded && result.value && mark_before_load) {
    // A value not stored (invalidated meanwhile, its mark lapsed, Redis failed) may have no mark
    // for the next invalidation to find and announce: no one may keep a copy of it.
    result.announced = store(key, *result.value, *mark_before_load);
  } else if (loaded && !result.value && mark_before_load) {
    unmark(key, *mark_before_load);
  }
  // Fill Redis before ending the flight, so later callers find the value there.
  promise.set_value(result);
  end_flight();
  return result;
}

cache_result<done> read_cache::invalidate(const std::string& key) {
  return invalidate(std::vector<std::string>{key});
}

void read_cache::forget_flights(const std::vector<std::string>& keys) {
  std::lock_guard<std::mutex> guard{flights_mutex_};
  for (const auto& key : keys) {
    flights_.erase(key);
  }
}

cache_result<done> read_cache::invalidate(const std::vector<std::string>& keys) {
  // Some of the keys whose invalidation failed before go along (a bounded number per call, so
  // that a long outage does not make every call carry all of them); each stays pending until it
  // is done.
  std::vector<std::pair<std::string, uint64_t>> retried;
  if (pending_count_.load() > 0) {
    std::lock_guard<std::mutex> guard{pending_mutex_};
    for (auto it = pending_.begin(); it != pending_.end() && retried.size() < retried_per_call;
         ++it) {
      retried.emplace_back(it->first, it->second);
    }
  }
  std::vector<std::string> all = keys;
  for (const auto& [key, failure] : retried) {
    all.push_back(key);
  }
  forget_flights(all);
  std::optional<cache_error> failed;
  std::vector<bool> dropped(all.size(), false); // its call succeeded

  for (size_t from = 0; from < all.size(); from += keys_per_call) {
    auto to = std::min(all.size(), from + keys_per_call);
    std::vector<std::string> redis_keys;
    std::vector<std::string> args{options_.invalidation_channel};
    redis_keys.reserve(2 * (to - from));
    args.reserve(1 + to - from);
    for (size_t i = from; i < to; ++i) {
      redis_keys.push_back(redis_key(all[i]));
      redis_keys.push_back(mark_key(all[i]));
      args.push_back(all[i]);
    }
    cache_result<redis_reply> r = cache_error{};
    {
      std::lock_guard<std::mutex> guard{client_mutex_};
      r = client_.eval(drop_and_announce, redis_keys, args);
    }
    if (r) {
      std::fill(dropped.begin() + static_cast<std::ptrdiff_t>(from),
                dropped.begin() + static_cast<std::ptrdiff_t>(to), true);
      continue;
    }
    ++redis_errors_;
    if (!failed) {
      failed = r.error();
    }
    if (r.error().code == cache_errc::unavailable) {
      break; // Redis is away: the keys not sent yet stay pending without a call each
    }
    // A refused call (a script error): the other calls still go, each key has its own chance.
  }
  // The new keys whose invalidation failed become pending, numbered anew (a retry running now
  // must not drop them); retried ones keep their number. Retried keys that went are dropped
  // unless a newer invalidation of them failed meanwhile (their number changed).
  std::vector<std::string> failed_new;
  for (size_t i = 0; i < keys.size(); ++i) {
    if (!dropped[i]) {
      failed_new.push_back(keys[i]);
    }
  }
  keep_pending(failed_new);
  if (!retried.empty()) {
    std::lock_guard<std::mutex> guard{pending_mutex_};
    for (size_t i = 0; i < retried.size(); ++i) {
      if (!dropped[keys.size() + i]) {
        continue;
      }
      auto it = pending_.find(retried[i].first);
      if (it != pending_.end() && it->second == retried[i].second) {
        pending_.erase(it);
      }
    }
    pending_count_.store(pending_.size());
  }
  if (failed) {
    return *failed;
  }
  return done{};
}

cache_result<done> read_cache::retry_pending_invalidations() {
  // A bounded number of calls: the caller (a watch thread) has other work too.
  for (int call = 0; call < 100 && pending_count_.load() > 0; ++call) {
    if (auto r = invalidate(std::vector<std::string>{}); !r) {
      return r;
    }
  }
  return done{};
}

bool read_cache::invalidation_pending(const std::string& key) const {
  if (pending_count_.load() == 0) {
    return false;
  }
  std::lock_guard<std::mutex> guard{pending_mutex_};
  return pending_.count(key) != 0;
}

void read_cache::keep_pending(const std::vector<std::string>& keys) {
  std::lock_guard<std::mutex> guard{pending_mutex_};
  for (const auto& key : keys) {
    if (pending_.count(key) == 0 && pending_.size() >= options_.max_pending_invalidations) {
      ++invalidations_dropped_;
      continue;
    }
    pending_[key] = ++pending_failures_;
  }
  pending_count_.store(pending_.size());
}

read_cache_stats read_cache::stats() const {
  return read_cache_stats{hits_.load(),          misses_.load(),
                          loads_.load(),         coalesced_.load(),
                          redis_errors_.load(),  stale_fills_.load(),
                          pending_count_.load(), invalidations_dropped_.load()};
}

} // namespace ordermesh::cache
