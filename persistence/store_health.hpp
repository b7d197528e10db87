#pragma once

#include "persistence/result.hpp"

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>

namespace ordermesh::persistence {

/// What one database worker (the journal writer's, the reader's) knows about its database, kept
/// current by the worker as it goes and read from any thread without messaging it: readiness and
/// metrics read it for free, however busy or stuck the worker is. Thread-safe.
class store_health {
public:
  /// Whether the worker runs (false once its actor ended, for whatever reason).
  bool running() const { return running_.load(); }

  /// Whether the last statement reached the database (true until one failed to).
  bool reachable() const { return consecutive_failures_.load() == 0; }

  /// Statements in a row that could not reach the database (unavailable or outcome_unknown).
  uint64_t consecutive_failures() const { return consecutive_failures_.load(); }

  /// The last such failure (code nil if there was none since the last success).
  store_error last_error() const {
    std::lock_guard<std::mutex> lock{mutex_};
    return last_error_;
  }

  /// The worker reached the database.
  void record_success() {
    if (consecutive_failures_.exchange(0) > 0) {
      std::lock_guard<std::mutex> lock{mutex_};
      last_error_ = {};
    }
  }

  /// A statement failed with `e`; only failures to reach the database count (a rejected
  /// statement or a conflict says nothing about the connection).
  void record_failure(const store_error& e) {
    if (e.code != store_errc::unavailable && e.code != store_errc::outcome_unknown) {
      return;
    }
    {
      std::lock_guard<std::mutex> lock{mutex_};
      last_error_ = e;
    }
    consecutive_failures_.fetch_add(1);
  }

  /// The worker's actor ended.
  void record_stopped() { running_.store(false); }

private:
  std::atomic<bool> running_{true};
  std::atomic<uint64_t> consecutive_failures_{0};
  mutable std::mutex mutex_;
  store_error last_error_;
};

} // namespace ordermesh::persistence
