#pragma once

#include "cache/redis_client.hpp"
#include "config/config.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace ordermesh::gateway {

/// Whether Redis answers, found out by a thread of its own that pings it every `period`, so that
/// GET /health/ready reads an atomic instead of waiting on Redis. After each ping Redis answered
/// it runs `while_up` on that thread (e.g. work left over from a Redis failure).
class redis_watch {
public:
  redis_watch(const config::redis_config& redis, std::chrono::milliseconds period,
              std::function<void()> while_up = {})
      : client_(redis, cache::redis_client_options{std::chrono::milliseconds{200},
                                                   std::chrono::milliseconds{200},
                                                   std::chrono::milliseconds{100},
                                                   std::chrono::milliseconds{1000}}),
        while_up_(std::move(while_up)), thread_([this, period] { run(period); }) {}
  ~redis_watch() { stop(); }

  bool up() const { return up_.load(); }

  void stop() {
    {
      std::lock_guard<std::mutex> lock{mutex_};
      stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) {
      thread_.join();
    }
  }

private:
  void run(std::chrono::milliseconds period) {
    std::unique_lock<std::mutex> lock{mutex_};
    while (!stopping_) {
      lock.unlock();
      up_ = static_cast<bool>(client_.ping());
      if (up_ && while_up_) {
        while_up_();
      }
      lock.lock();
      wake_.wait_for(lock, period, [this] { return stopping_; });
    }
  }

  cache::redis_client client_; // used by thread_ only
  const std::function<void()> while_up_;
  std::atomic<bool> up_{false};
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_; // last: it uses the members above
};

} // namespace ordermesh::gateway
