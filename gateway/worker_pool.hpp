#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <pthread.h>
#include <thread>
#include <vector>

namespace ordermesh::gateway {

/// Threads for the gateway's blocking work (PostgreSQL reads, Redis calls), so that the server's
/// io threads and CAF's scheduler never block. Each thread owns one `Local` (e.g. its database
/// connection), made on that thread. The queue is bounded: a full pool refuses work at once, and
/// the caller answers 503 instead of letting latency grow without limit.
template <class Local>
class worker_pool {
public:
  using task = std::function<void(Local&)>;

  worker_pool(size_t threads, size_t max_queue, std::function<std::unique_ptr<Local>()> make_local)
      : max_queue_(max_queue) {
    for (size_t i = 0; i < threads; ++i) {
      threads_.emplace_back([this, make_local] {
        // Named, so that a profile tells the gateway's blocking work from the io threads.
        pthread_setname_np(pthread_self(), "gw.worker");
        run(make_local());
      });
    }
  }

  ~worker_pool() { stop(); }
  worker_pool(const worker_pool&) = delete;
  worker_pool& operator=(const worker_pool&) = delete;

  /// Queues `t`; false (and `t` dropped) when the queue is full or the pool stopped.
  bool try_post(task t) {
    {
      std::lock_guard<std::mutex> lock{mutex_};
      if (stopping_ || queue_.size() >= max_queue_) {
        return false;
      }
      queue_.push_back(std::move(t));
    }
    wake_.notify_one();
    return true;
  }

  /// Tasks waiting for a thread.
  size_t queued() const {
    std::lock_guard<std::mutex> lock{mutex_};
    return queue_.size();
  }

  /// Runs what is queued, then joins the threads. Idempotent.
  void stop() {
    {
      std::lock_guard<std::mutex> lock{mutex_};
      stopping_ = true;
    }
    wake_.notify_all();
    for (auto& t : threads_) {
      if (t.joinable()) {
        t.join();
      }
    }
  }

private:
  void run(std::unique_ptr<Local> local) {
    while (true) {
      task t;
      {
        std::unique_lock<std::mutex> lock{mutex_};
        wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
        if (queue_.empty()) {
          return;
        }
        t = std::move(queue_.front());
        queue_.pop_front();
      }
      t(*local);
    }
  }

  const size_t max_queue_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<task> queue_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

} // namespace ordermesh::gateway
