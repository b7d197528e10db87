#include "cache/read_cache.hpp"

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

void read_cache::store(const std::string& key, const std::string& value) {
  auto ttl = jittered_ttl();
  std::lock_guard<std::mutex> guard{client_mutex_};
  if (!client_.set(redis_key(key), value, ttl)) {
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

std::optional<std::string> read_cache::get_or_load(const std::string& key, const loader& load) {
  if (auto cached = lookup(key); cached && *cached) {
    ++hits_;
    return **cached;
  }
  ++misses_;
  std::promise<std::optional<std::string>> promise;
  {
    std::unique_lock<std::mutex> guard{flights_mutex_};
    if (auto it = flights_.find(key); it != flights_.end()) {
      auto shared = it->second;
      guard.unlock();
      ++coalesced_;
      return shared.get();
    }
    flights_.emplace(key, promise.get_future().share());
  }
  // This caller leads the flight. A previous leader may have filled the key between our GET and
  // our registration: look again before loading, so a burst of callers loads at most once.
  std::optional<std::string> value;
  bool loaded = false;
  try {
    if (auto cached = lookup(key); cached && *cached) {
      value = std::move(*cached);
    } else {
      ++loads_;
      loaded = true;
      value = load();
    }
  } catch (...) {
    promise.set_exception(std::current_exception());
    std::lock_guard<std::mutex> guard{flights_mutex_};
    flights_.erase(key);
    throw;
  }
  if (loaded && value) {
    store(key, *value);
  }
  // Fill Redis before ending the flight, so later callers find the value there.
  promise.set_value(value);
  {
    std::lock_guard<std::mutex> guard{flights_mutex_};
    flights_.erase(key);
  }
  return value;
}

cache_result<done> read_cache::invalidate(const std::string& key) {
  cache_result<int64_t> r = cache_error{};
  {
    std::lock_guard<std::mutex> guard{client_mutex_};
    r = client_.del({redis_key(key)});
  }
  if (!r) {
    ++redis_errors_;
    return r.error();
  }
  return done{};
}

read_cache_stats read_cache::stats() const {
  return read_cache_stats{hits_.load(), misses_.load(), loads_.load(), coalesced_.load(),
                          redis_errors_.load()};
}

} // namespace ordermesh::cache
