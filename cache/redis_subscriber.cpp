#include "cache/redis_subscriber.hpp"

#include "observability/log.hpp"

#include <hiredis/hiredis.h>

#include <poll.h>

#include <algorithm>
#include <cerrno>

namespace ordermesh::cache {

namespace {

using namespace std::chrono_literals;

struct context_deleter {
  void operator()(redisContext* c) const { redisFree(c); }
};
using context_ptr = std::unique_ptr<redisContext, context_deleter>;

struct reply_deleter {
  void operator()(void* r) const { freeReplyObject(r); }
};
using reply_ptr = std::unique_ptr<void, reply_deleter>;

/// Element `i` of an array reply as a string, or "".
std::string element(const redisReply* r, size_t i) {
  if (r == nullptr || r->type != REDIS_REPLY_ARRAY || i >= r->elements ||
      r->element[i]->type != REDIS_REPLY_STRING) {
    return {};
  }
  return {r->element[i]->str, r->element[i]->len};
}

} // namespace

redis_subscriber::redis_subscriber(config::redis_config redis, std::string channel,
                                   message_handler on_message, std::function<void()> on_subscribed)
    : redis_(std::move(redis)), channel_(std::move(channel)), on_message_(std::move(on_message)),
      on_subscribed_(std::move(on_subscribed)), thread_([this] { run(); }) {}

redis_subscriber::~redis_subscriber() {
  stop();
}

void redis_subscriber::stop() {
  {
    std::lock_guard<std::mutex> lock{mutex_};
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) {
    thread_.join();
  }
}

bool redis_subscriber::pause(std::chrono::milliseconds delay) {
  std::unique_lock<std::mutex> lock{mutex_};
  return !wake_.wait_for(lock, delay, [this] { return stopping_; });
}

void redis_subscriber::run() {
  auto backoff = 100ms;
  auto stopping = [this] {
    std::lock_guard<std::mutex> lock{mutex_};
    return stopping_;
  };
  while (!stopping()) {
    timeval connect_timeout{0, 500'000};
    context_ptr c{redisConnectWithTimeout(redis_.host.c_str(), redis_.port, connect_timeout)};
    std::string problem;
    if (!c || c->err != 0) {
      problem = c ? c->errstr : "cannot allocate a redis context";
    } else {
      timeval command_timeout{1, 0};
      redisSetTimeout(c.get(), command_timeout);
      reply_ptr r{redisCommand(c.get(), "SUBSCRIBE %b", channel_.data(), channel_.size())};
      if (!r || element(static_cast<redisReply*>(r.get()), 0) != "subscribe") {
        problem = c->err != 0 ? c->errstr : "unexpected answer to SUBSCRIBE";
      }
    }
    if (!problem.empty()) {
      observability::log_event(
          spdlog::level::warn, "redis subscription failed",
          {{"channel", channel_}, {"detail", problem}, {"retry_in_ms", backoff.count()}});
      if (!pause(backoff)) {
        return;
      }
      backoff = std::min(backoff * 2, std::chrono::milliseconds{2000});
      continue;
    }
    backoff = 100ms;
    subscribed_ = true;
    if (on_subscribed_) {
      on_subscribed_();
    }
    // Wait for data with poll(), so that stop() is noticed within 200 ms, then read what arrived
    // without blocking.
    while (!stopping() && c->err == 0) {
      // First what is already buffered (it may have come with the SUBSCRIBE answer).
      void* raw = nullptr;
      while (redisGetReplyFromReader(c.get(), &raw) == REDIS_OK && raw != nullptr) {
        reply_ptr r{raw};
        auto* reply = static_cast<redisReply*>(raw);
        if (element(reply, 0) == "message") {
          on_message_(element(reply, 2));
        }
        raw = nullptr;
      }
      pollfd p{c->fd, POLLIN, 0};
      const int ready = ::poll(&p, 1, 200);
      if (ready < 0 && errno != EINTR) {
        break;
      }
      if (ready > 0 && redisBufferRead(c.get()) != REDIS_OK) {
        break; // closed or failed
      }
    }
    subscribed_ = false;
    if (!stopping()) {
      observability::log_event(spdlog::level::warn, "redis subscription lost",
                               {{"channel", channel_}});
    }
  }
}

} // namespace ordermesh::cache
