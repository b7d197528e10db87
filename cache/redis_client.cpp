#include "cache/redis_client.hpp"

#include "observability/log.hpp"

#include <hiredis/hiredis.h>

#include <algorithm>
#include <memory>
#include <sys/time.h>

namespace ordermesh::cache {

namespace {

timeval to_timeval(std::chrono::milliseconds ms) {
  timeval tv{};
  tv.tv_sec = static_cast<decltype(tv.tv_sec)>(ms.count() / 1000);
  tv.tv_usec = static_cast<decltype(tv.tv_usec)>((ms.count() % 1000) * 1000);
  return tv;
}

redis_reply decode(const redisReply& r) {
  redis_reply out;
  switch (r.type) {
    case REDIS_REPLY_INTEGER:
      out.type = redis_reply::kind::integer;
      out.integer = r.integer;
      break;
    case REDIS_REPLY_STRING:
      out.type = redis_reply::kind::string;
      out.str.assign(r.str, r.len);
      break;
    case REDIS_REPLY_STATUS:
      out.type = redis_reply::kind::status;
      out.str.assign(r.str, r.len);
      break;
    case REDIS_REPLY_ARRAY:
      out.type = redis_reply::kind::array;
      out.elements.reserve(r.elements);
      for (size_t i = 0; i < r.elements; ++i) {
        out.elements.push_back(decode(*r.element[i]));
      }
      break;
    default:
      out.type = redis_reply::kind::nil;
      break;
  }
  return out;
}

struct reply_deleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};

cache_error unexpected(const char* what, const redis_reply& r) {
  return {cache_errc::protocol, std::string{what} + ": unexpected reply type " +
                                    std::to_string(static_cast<int>(r.type))};
}

} // namespace

redis_client::redis_client(config::redis_config redis, redis_client_options options)
    : redis_(std::move(redis)), options_(options), backoff_(options_.reconnect_min),
      next_attempt_(std::chrono::steady_clock::now()) {}

redis_client::~redis_client() {
  drop_connection();
}

void redis_client::drop_connection() {
  if (ctx_ != nullptr) {
    redisFree(ctx_);
    ctx_ = nullptr;
  }
}

cache_error redis_client::connect_if_needed() {
  if (ctx_ != nullptr) {
    return {};
  }
  auto now = std::chrono::steady_clock::now();
  if (now < next_attempt_) {
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(next_attempt_ - now);
    return {cache_errc::unavailable, "redis unreachable; next connection attempt in " +
                                         std::to_string(wait.count()) + " ms"};
  }
  redisContext* c = redisConnectWithTimeout(redis_.host.c_str(), redis_.port,
                                            to_timeval(options_.connect_timeout));
  std::string detail;
  if (c == nullptr) {
    detail = "cannot allocate a redis context";
  } else if (c->err != 0) {
    detail = c->errstr;
  } else if (redisSetTimeout(c, to_timeval(options_.command_timeout)) != REDIS_OK) {
    detail = "cannot set the command timeout";
  }
  if (!detail.empty()) {
    if (c != nullptr) {
      redisFree(c);
    }
    const auto wait = backoff_;
    next_attempt_ = now + wait;
    backoff_ = std::min(backoff_ * 2, options_.reconnect_max);
    detail = "connect to " + redis_.host + ":" + std::to_string(redis_.port) + ": " + detail;
    observability::log_event(spdlog::level::warn, "redis connection failed",
                             {{"detail", detail}, {"retry_in_ms", wait.count()}});
    return {cache_errc::unavailable, detail};
  }
  ctx_ = c;
  backoff_ = options_.reconnect_min;
  return {};
}

namespace {

/// argv as hiredis takes it (pointers and lengths: binary safe).
struct argv_view {
  explicit argv_view(const std::vector<std::string>& argv) {
    args.reserve(argv.size());
    lens.reserve(argv.size());
    for (const auto& a : argv) {
      args.push_back(a.data());
      lens.push_back(a.size());
    }
  }
  int argc() const { return static_cast<int>(args.size()); }
  std::vector<const char*> args;
  std::vector<size_t> lens;
};

std::string name_of(const std::vector<std::string>& argv) {
  return argv.empty() ? std::string{"(empty)"} : argv.front();
}

} // namespace

cache_result<redis_reply> redis_client::received(const std::string& name, void* raw) {
  std::unique_ptr<redisReply, reply_deleter> reply{static_cast<redisReply*>(raw)};
  if (!reply) {
    // I/O error or timeout: the reply stream is out of step, so the connection is unusable.
    std::string detail = name + ": " + (ctx_->err != 0 ? ctx_->errstr : "no reply");
    drop_connection();
    return cache_error{cache_errc::unavailable, detail};
  }
  if (reply->type == REDIS_REPLY_ERROR) {
    return cache_error{cache_errc::protocol, name + ": " + std::string{reply->str, reply->len}};
  }
  return decode(*reply);
}

cache_result<redis_reply> redis_client::command(const std::vector<std::string>& argv) {
  if (auto err = connect_if_needed(); err.code != cache_errc::nil) {
    return err;
  }
  argv_view view{argv};
  return received(name_of(argv),
                  redisCommandArgv(ctx_, view.argc(), view.args.data(), view.lens.data()));
}

std::vector<cache_result<redis_reply>>
redis_client::pipeline(const std::vector<std::vector<std::string>>& commands) {
  std::vector<cache_result<redis_reply>> out;
  out.reserve(commands.size());
  auto fail_the_rest = [&](const cache_error& err) {
    while (out.size() < commands.size()) {
      out.emplace_back(err);
    }
  };
  if (auto err = connect_if_needed(); err.code != cache_errc::nil) {
    fail_the_rest(err);
    return out;
  }
  for (const auto& argv : commands) {
    // Only buffers the command (it fails only when out of memory); nothing is sent yet.
    argv_view view{argv};
    if (redisAppendCommandArgv(ctx_, view.argc(), view.args.data(), view.lens.data()) != REDIS_OK) {
      cache_error err{cache_errc::unavailable, name_of(argv) + ": cannot buffer the command"};
      drop_connection(); // commands buffered before it would be sent with the next call
      fail_the_rest(err);
      return out;
    }
  }
  for (const auto& argv : commands) {
    void* raw = nullptr;
    // The first call writes every buffered command, then each reads one reply.
    if (redisGetReply(ctx_, &raw) != REDIS_OK) {
      raw = nullptr; // hiredis leaves none on error
    }
    out.push_back(received(name_of(argv), raw));
    if (ctx_ == nullptr) { // the connection broke: no later reply can come
      fail_the_rest(out.back().error());
      break;
    }
  }
  return out;
}

cache_result<done> redis_client::ping() {
  auto r = command({"PING"});
  if (!r) {
    return r.error();
  }
  if (r->type != redis_reply::kind::status || r->str != "PONG") {
    return unexpected("PING", *r);
  }
  return done{};
}

cache_result<std::optional<std::string>> redis_client::get(const std::string& key) {
  auto r = command({"GET", key});
  if (!r) {
    return r.error();
  }
  if (r->type == redis_reply::kind::nil) {
    return std::optional<std::string>{};
  }
  if (r->type != redis_reply::kind::string) {
    return unexpected("GET", *r);
  }
  return std::optional<std::string>{std::move(r->str)};
}

cache_result<done> redis_client::set(const std::string& key, const std::string& value,
                                     std::chrono::milliseconds ttl) {
  auto r = command({"SET", key, value, "PX", std::to_string(std::max<int64_t>(ttl.count(), 1))});
  if (!r) {
    return r.error();
  }
  if (r->type != redis_reply::kind::status) {
    return unexpected("SET", *r);
  }
  return done{};
}

namespace {

cache_result<int64_t> as_integer(const char* what, cache_result<redis_reply> r) {
  if (!r) {
    return r.error();
  }
  if (r->type != redis_reply::kind::integer) {
    return unexpected(what, *r);
  }
  return r->integer;
}

} // namespace

cache_result<int64_t> redis_client::del(const std::vector<std::string>& keys) {
  std::vector<std::string> argv{"DEL"};
  argv.insert(argv.end(), keys.begin(), keys.end());
  return as_integer("DEL", command(argv));
}

cache_result<int64_t> redis_client::pttl(const std::string& key) {
  return as_integer("PTTL", command({"PTTL", key}));
}

cache_result<int64_t> redis_client::publish(const std::string& channel,
                                            const std::string& message) {
  return as_integer("PUBLISH", command({"PUBLISH", channel, message}));
}

cache_result<redis_reply> redis_client::eval(const std::string& script,
                                             const std::vector<std::string>& keys,
                                             const std::vector<std::string>& args) {
  auto with = [&](std::string verb, std::string body) {
    std::vector<std::string> argv{std::move(verb), std::move(body), std::to_string(keys.size())};
    argv.insert(argv.end(), keys.begin(), keys.end());
    argv.insert(argv.end(), args.begin(), args.end());
    return command(argv);
  };
  auto it = script_sha_.find(script);
  if (it == script_sha_.end()) {
    auto loaded = command({"SCRIPT", "LOAD", script});
    if (!loaded) {
      return loaded.error();
    }
    if (loaded->type != redis_reply::kind::string) {
      return unexpected("SCRIPT LOAD", *loaded);
    }
    it = script_sha_.emplace(script, loaded->str).first;
  }
  auto r = with("EVALSHA", it->second);
  if (!r && r.error().code == cache_errc::protocol &&
      r.error().detail.find("NOSCRIPT") != std::string::npos) {
    return with("EVAL", script);
  }
  return r;
}

} // namespace ordermesh::cache
