#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>

namespace ordermesh::util {

/// A loop that polls on a thread of its own (the projection runner, the settlement runner): the
/// thread, rounds, waits between them that stop() or a waiter cuts short, and "caught up" for
/// waiters. Thread-safe. Declare it as its owner's last member: the body may use every other.
///
///     loop_([this] {
///       while (auto round = loop_.begin_round()) {
///         ... one round ...
///         if (more_at_once) continue;
///         loop_.caught_up(*round);
///         if (!loop_.pause(interval)) break;
///       }
///     })
class polling_loop {
public:
  /// Starts `body` on the loop's thread.
  explicit polling_loop(std::function<void()> body) : thread_(std::move(body)) {}
  ~polling_loop() { stop(); }
  polling_loop(const polling_loop&) = delete;
  polling_loop& operator=(const polling_loop&) = delete;

  /// The number of the round that starts now; nullopt once stopping.
  std::optional<uint64_t> begin_round() {
    std::lock_guard<std::mutex> guard{mutex_};
    if (stopping_) {
      return std::nullopt;
    }
    return ++round_;
  }

  /// Round `round` found nothing more to do at once: waiters that asked before it started return.
  void caught_up(uint64_t round) {
    {
      std::lock_guard<std::mutex> guard{mutex_};
      caught_up_round_ = round;
    }
    caught_up_.notify_all();
  }

  /// Waits up to `delay` or until stop() or a waiter wakes the loop; false once stopping.
  bool pause(std::chrono::milliseconds delay) {
    std::unique_lock<std::mutex> lock{mutex_};
    wake_.wait_for(lock, delay, [&] { return stopping_ || nudged_; });
    nudged_ = false;
    return !stopping_;
  }

  /// Blocks until a round that started after this call has caught up, or `timeout`; whether it
  /// did. Cuts the loop's current wait short.
  bool wait_until_caught_up(std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock{mutex_};
    auto started = round_;
    nudged_ = true;
    wake_.notify_all();
    return caught_up_.wait_for(lock, timeout, [&] {
      return stopping_ || caught_up_round_ > started;
    }) && caught_up_round_ > started;
  }

  /// Ends the waits (pause returns false, begin_round nullopt from now on) and joins the thread
  /// once the body returned. Idempotent; of two callers at once one joins. Called from the body
  /// (e.g. a callback it runs), it only ends the waits: the destructor joins.
  void stop() {
    {
      std::lock_guard<std::mutex> guard{mutex_};
      stopping_ = true;
    }
    wake_.notify_all();
    caught_up_.notify_all();
    if (std::this_thread::get_id() == thread_.get_id()) {
      return;
    }
    std::lock_guard<std::mutex> join_guard{join_mutex_};
    if (thread_.joinable()) {
      thread_.join();
    }
  }

  bool stopping() const {
    std::lock_guard<std::mutex> guard{mutex_};
    return stopping_;
  }

private:
  mutable std::mutex mutex_;
  std::condition_variable wake_;      // the loop waits on it
  std::condition_variable caught_up_; // wait_until_caught_up waits on it
  bool stopping_ = false;
  bool nudged_ = false;          // a waiter wants a round now
  uint64_t round_ = 0;           // rounds started
  uint64_t caught_up_round_ = 0; // last round that found nothing more to do at once
  std::mutex join_mutex_;
  std::thread thread_; // last: started once everything above exists
};

} // namespace ordermesh::util
