#include "cache/rate_limiter.hpp"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstdio>
#include <vector>

namespace ordermesh::cache {

namespace {

std::string exact(double x) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", x);
  return buf;
}

} // namespace

const std::string& rate_limiter::script() {
  // Fractional token counts are stored and returned as strings: Lua numbers returned to Redis are
  // truncated to integers.
  static const std::string text = R"lua(
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local bucket = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(bucket[1])
local ts = tonumber(bucket[2])
if tokens == nil or ts == nil then
  tokens = capacity
  ts = now
end
tokens = math.min(capacity, tokens + math.max(0, now - ts) * rate)
local allowed = 0
local retry = 0
if tokens >= cost then
  tokens = tokens - cost
  allowed = 1
else
  retry = math.max(1, math.ceil((cost - tokens) / rate))
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil((capacity - tokens) / rate) + 1000)
return {allowed, retry}
)lua";
  return text;
}

rate_limiter::rate_limiter(config::redis_config redis, rate_limit_options options,
                           redis_client_options client_options)
    : options_(std::move(options)), client_(std::move(redis), client_options) {
  // Invariant: a bucket can hold a token and refills, or no request could ever pass.
  assert(options_.capacity > 0 && options_.refill_per_second > 0 && options_.max_local_clients > 0);
}

rate_decision rate_limiter::count(rate_decision d) {
  ++(d.allowed ? allowed_ : denied_);
  if (d.degraded) {
    ++degraded_;
  }
  return d;
}

rate_decision rate_limiter::acquire(const std::string& client_key, uint32_t cost) {
  cache_result<redis_reply> r = cache_error{};
  {
    std::lock_guard<std::mutex> guard{client_mutex_};
    r = client_.eval(script(), {options_.key_prefix + client_key},
                     {std::to_string(options_.capacity), exact(options_.refill_per_second / 1000.0),
                      std::to_string(cost)});
  }
  if (r && r->type == redis_reply::kind::array && r->elements.size() == 2 &&
      r->elements[0].type == redis_reply::kind::integer &&
      r->elements[1].type == redis_reply::kind::integer) {
    rate_decision d;
    d.allowed = r->elements[0].integer == 1;
    d.retry_after = std::chrono::milliseconds{d.allowed ? 0 : r->elements[1].integer};
    return count(d);
  }
  return count(acquire_local(client_key, cost));
}

rate_decision rate_limiter::acquire_local(const std::string& client_key, uint32_t cost) {
  const auto now = std::chrono::steady_clock::now();
  const double capacity = options_.capacity;
  const double per_ms = options_.refill_per_second / 1000.0;
  std::lock_guard<std::mutex> guard{local_mutex_};
  if (local_.size() >= options_.max_local_clients && local_.count(client_key) == 0) {
    trim_local(now);
  }
  auto [it, fresh] = local_.try_emplace(client_key, local_bucket{capacity, now});
  auto& b = it->second;
  if (!fresh) {
    const double elapsed = std::chrono::duration<double, std::milli>(now - b.refilled).count();
    b.tokens = std::min(capacity, b.tokens + elapsed * per_ms);
    b.refilled = now;
  }
  rate_decision d;
  d.degraded = true;
  if (b.tokens >= cost) {
    b.tokens -= cost;
    d.allowed = true;
  } else {
    auto wait = static_cast<int64_t>(std::ceil((cost - b.tokens) / per_ms));
    d.retry_after = std::chrono::milliseconds{std::max<int64_t>(1, wait)};
  }
  return d;
}

void rate_limiter::trim_local(std::chrono::steady_clock::time_point now) {
  // A bucket that has refilled to capacity is the same as no bucket: dropping it loses nothing.
  const double per_ms = options_.refill_per_second / 1000.0;
  for (auto it = local_.begin(); it != local_.end();) {
    const double idle_ms =
        std::chrono::duration<double, std::milli>(now - it->second.refilled).count();
    const bool full = it->second.tokens + idle_ms * per_ms >= options_.capacity;
    it = full ? local_.erase(it) : std::next(it);
  }
  if (local_.size() < options_.max_local_clients) {
    return;
  }
  // Still too many clients at once: the quarter idle longest start over with a full bucket (a
  // bounded leak of tokens rather than unbounded memory). A quarter keeps trimming rare.
  std::vector<std::chrono::steady_clock::time_point> refilled;
  refilled.reserve(local_.size());
  for (const auto& [key, bucket] : local_) {
    refilled.push_back(bucket.refilled);
  }
  const auto cut = refilled.begin() + static_cast<std::ptrdiff_t>(refilled.size() / 4);
  std::nth_element(refilled.begin(), cut, refilled.end());
  const auto oldest_kept = *cut;
  for (auto it = local_.begin(); it != local_.end();) {
    it = it->second.refilled < oldest_kept ? local_.erase(it) : std::next(it);
  }
  if (local_.size() >= options_.max_local_clients) {
    local_.clear(); // every bucket refilled at the same instant: nothing older to prefer
  }
}

size_t rate_limiter::local_buckets() {
  std::lock_guard<std::mutex> guard{local_mutex_};
  return local_.size();
}

rate_limiter_stats rate_limiter::stats() const {
  return rate_limiter_stats{allowed_.load(), denied_.load(), degraded_.load()};
}

} // namespace ordermesh::cache
