#pragma once

#include "config/config.hpp"
#include "read_models/projections.hpp"
#include "util/polling_loop.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

namespace ordermesh::read_models {

/// How a projection_runner paces itself.
struct projection_runner_settings {
  /// The checkpoint's key in subscription_checkpoints (one per set of read models).
  std::string name = "read-models";
  /// Most events read and applied in one transaction.
  int32_t page_size = 2000;
  /// Wait before polling again after a page that was not full (nothing or little new): how stale
  /// the read models may be, plus one page's work (config::projection_config::poll_interval).
  std::chrono::milliseconds poll_interval{25};
  /// First wait after a failed page; doubles after each further failure up to backoff_max.
  std::chrono::milliseconds backoff_min{50};
  /// Longest wait between two attempts while the database keeps failing.
  std::chrono::milliseconds backoff_max{2000};
  /// Read the log's newest position (for stats().lag) at most this often.
  std::chrono::milliseconds lag_refresh{250};
};

/// A snapshot of a runner's counters; each field is read atomically, not all together.
struct projection_runner_stats {
  /// Events that changed a read model, since start.
  uint64_t events_applied = 0;
  /// Pages committed (each with at least one event read), since start.
  uint64_t pages = 0;
  /// Failed attempts (database errors or an undecodable event), since start.
  uint64_t errors = 0;
  /// The highest global position committed to the read models. Events are applied in writing
  /// transaction order (subscription.hpp): a lower position may still follow while a
  /// transaction that took it is open.
  int64_t checkpoint = 0;
  /// The log's newest committed position as last read (at most lag_refresh old).
  int64_t newest_position = 0;
  /// newest_position - checkpoint, never negative: about how many events are not yet in the read
  /// models (positions skipped by rolled-back or conflicting appends count too).
  int64_t lag = 0;
  /// Whether the last attempt failed (the runner is backing off).
  bool failing = false;
  /// Whether it failed because PostgreSQL could not be reached (otherwise the database refused the
  /// page, e.g. an event no codec of this build decodes: the projection is stuck until fixed).
  bool database_unreachable = false;
};

/// Keeps the read models filled: a projector on its own thread, polling the log and applying it a
/// page at a time. A full page is followed at once by the next; otherwise it waits poll_interval.
/// On an error it logs (observability/log.hpp), backs off from backoff_min doubling to
/// backoff_max and tries again, for as long as it runs: it never throws and never stops on its
/// own. After each committed page that changed a row it calls `on_changes` with what changed.
///
/// Run one per set of read models (one `name` per database): a second runner under the same name
/// would apply every page too: no row changes twice (rows are version-guarded), but the two
/// contend for the same rows and each reports only the rows it changed first.
///
/// Starts in the constructor; stop() (also run by the destructor) returns once the thread has
/// ended, within one page's work: waits are cut short. All methods are thread-safe.
class projection_runner {
public:
  /// Called on the runner's thread after a committed page that changed a row (an order or a
  /// SKU). The next page waits for it, so it must not block for long: invalidate cache keys,
  /// notify waiters, post work elsewhere. An exception it throws is logged and ignored.
  using change_handler = std::function<void(const projection_changes&)>;

  projection_runner(config::pg_config pg, projection_runner_settings settings,
                    change_handler on_changes = {});
  ~projection_runner();
  projection_runner(const projection_runner&) = delete;
  projection_runner& operator=(const projection_runner&) = delete;

  /// Stops polling and joins the thread. Idempotent. Called from on_changes, it only asks the
  /// loop to end after the handler returns.
  void stop();

  /// The counters now.
  projection_runner_stats stats() const;

  /// Blocks until a poll that started after this call has found no further full page, i.e. the
  /// read models hold every event committed before the call that the subscription may deliver
  /// (a transaction still writing anywhere on the server holds back the events of transactions
  /// that began after it: subscription.hpp), or until `timeout`. Returns whether it caught up. Cuts
  /// the current wait short.
  bool wait_until_caught_up(std::chrono::milliseconds timeout);

private:
  void run();
  /// Waits up to `delay` or until stop() or a waiter wakes the loop; false once stopping.
  bool pause(std::chrono::milliseconds delay);
  void refresh_newest_position(projector& p);
  void report_failure(const persistence::store_error& e, std::chrono::milliseconds retry_in);
  void deliver(const projection_changes& changes);

  const config::pg_config pg_;
  const projection_runner_settings settings_;
  const change_handler on_changes_;

  std::atomic<uint64_t> events_applied_{0};
  std::atomic<uint64_t> pages_{0};
  std::atomic<uint64_t> errors_{0};
  std::atomic<int64_t> checkpoint_{0};
  std::atomic<int64_t> newest_position_{0};
  std::atomic<bool> failing_{false};
  std::atomic<bool> unreachable_{false};

  /// Rounds are polls; one catches up when it found no full page.
  util::polling_loop loop_; // last: its thread starts once everything above exists
};

} // namespace ordermesh::read_models
