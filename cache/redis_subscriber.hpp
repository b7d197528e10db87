#pragma once

#include "config/config.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace ordermesh::cache {

/// Listens to one Redis pub/sub channel on its own connection and thread, e.g. for the cache
/// invalidations other processes publish. Messages are delivered in order to `on_message` on that
/// thread. When the connection is lost (or Redis is down) it reconnects with back-off (100 ms
/// doubling to 2 s) and calls `on_subscribed` after each (re)subscription: messages published
/// while it was away are lost, so the owner should drop whatever they could have invalidated.
/// Starts in the constructor; stop() (also run by the destructor) returns within about 200 ms.
class redis_subscriber {
public:
  using message_handler = std::function<void(const std::string& message)>;

  redis_subscriber(config::redis_config redis, std::string channel, message_handler on_message,
                   std::function<void()> on_subscribed = {});
  ~redis_subscriber();
  redis_subscriber(const redis_subscriber&) = delete;
  redis_subscriber& operator=(const redis_subscriber&) = delete;

  /// Ends the subscription and joins the thread. Idempotent.
  void stop();

  /// Whether it is subscribed right now.
  bool subscribed() const { return subscribed_.load(); }

private:
  void run();
  /// Waits `delay` or until stop(); false once stopping.
  bool pause(std::chrono::milliseconds delay);

  const config::redis_config redis_;
  const std::string channel_;
  const message_handler on_message_;
  const std::function<void()> on_subscribed_;
  std::atomic<bool> subscribed_{false};
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false; // guarded by mutex_
  std::thread thread_;    // last: started once everything above exists
};

} // namespace ordermesh::cache
