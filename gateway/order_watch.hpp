#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace ordermesh::gateway {

/// How an order ended, as the read model says.
struct order_outcome {
  std::string status; ///< confirmed | rejected | cancelled
  std::string reason;
};

/// Lets requests wait for an order to reach a terminal state (POST /orders?wait=<ms>). Fed by the
/// projection with every order that reached one. Remembers the last `memory` finished orders, so a
/// watch started just after the order finished still fires at once. Thread-safe; callbacks run
/// outside the lock, on the thread of finished() or watch().
class order_watch {
public:
  using callback = std::function<void(const order_outcome&)>;

  explicit order_watch(size_t memory = 100000) : memory_(memory) {}

  /// Calls `cb` once when `order_id` finishes (at once if it already did). Returns a ticket for
  /// cancel().
  uint64_t watch(const std::string& order_id, callback cb) {
    std::unique_lock<std::mutex> lock{mutex_};
    if (auto done = finished_.find(order_id); done != finished_.end()) {
      auto outcome = done->second;
      lock.unlock();
      cb(outcome);
      return 0;
    }
    const auto ticket = ++last_ticket_;
    waiting_[order_id].push_back({ticket, std::move(cb)});
    return ticket;
  }

  /// Forgets a watch that has not fired (its request answered otherwise, e.g. timed out).
  void cancel(const std::string& order_id, uint64_t ticket) {
    std::lock_guard<std::mutex> lock{mutex_};
    auto it = waiting_.find(order_id);
    if (it == waiting_.end()) {
      return;
    }
    auto& list = it->second;
    for (auto w = list.begin(); w != list.end(); ++w) {
      if (w->ticket == ticket) {
        list.erase(w);
        break;
      }
    }
    if (list.empty()) {
      waiting_.erase(it);
    }
  }

  /// `order_id` reached a terminal state: fires its watches and remembers the outcome.
  void finished(const std::string& order_id, const order_outcome& outcome) {
    std::vector<waiter> fire;
    {
      std::lock_guard<std::mutex> lock{mutex_};
      if (finished_.emplace(order_id, outcome).second) {
        order_.push_back(order_id);
        if (order_.size() > memory_) {
          finished_.erase(order_.front());
          order_.pop_front();
        }
      }
      if (auto it = waiting_.find(order_id); it != waiting_.end()) {
        fire = std::move(it->second);
        waiting_.erase(it);
      }
    }
    for (auto& w : fire) {
      w.cb(outcome);
    }
  }

  /// Fires every waiting watch with an empty outcome (status ""): nobody waits any more.
  void release_all() {
    decltype(waiting_) fire;
    {
      std::lock_guard<std::mutex> lock{mutex_};
      fire.swap(waiting_);
    }
    for (auto& [id, list] : fire) {
      for (auto& w : list) {
        w.cb(order_outcome{});
      }
    }
  }

  /// Watches not fired yet.
  size_t waiting() const {
    std::lock_guard<std::mutex> lock{mutex_};
    size_t n = 0;
    for (const auto& [id, list] : waiting_) {
      n += list.size();
    }
    return n;
  }

private:
  struct waiter {
    uint64_t ticket;
    callback cb;
  };
  const size_t memory_;
  mutable std::mutex mutex_;
  uint64_t last_ticket_ = 0;
  std::unordered_map<std::string, std::vector<waiter>> waiting_;
  std::unordered_map<std::string, order_outcome> finished_;
  std::deque<std::string> order_; // finished_ keys, oldest first
};

} // namespace ordermesh::gateway
