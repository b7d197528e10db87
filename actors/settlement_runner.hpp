#pragma once

#include "config/config.hpp"
#include "persistence/event.hpp"

#include "util/polling_loop.hpp"

#include <caf/actor.hpp>
#include <caf/fwd.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace ordermesh::actors {

/// How a settlement_runner paces itself.
struct settlement_settings {
  /// The checkpoint's key in subscription_checkpoints.
  std::string name = "settlement";
  /// Wait between rounds once caught up (config::settlement_config::interval): a round settles
  /// what was confirmed since the last, in one event per SKU.
  std::chrono::milliseconds interval{1000};
  /// Most confirmations read in one round; a full page is followed at once by the next.
  int32_t page_size = 20'000;
  /// How long one settle_orders or record_notification may go unanswered before it counts as
  /// failed.
  std::chrono::milliseconds answer_timeout{5000};
  /// Most commands of a round (settles and notifications) awaiting their answer at once: a full
  /// page would otherwise put one notification per order into the hosts' queues at once.
  int32_t max_in_flight = 512;
  /// First wait before retrying what failed (a SKU's settle, an order's notification, a read, the
  /// checkpoint's save); doubles after each further failure up to backoff_max.
  std::chrono::milliseconds backoff_min{100};
  std::chrono::milliseconds backoff_max{5000};
  /// Attempts at one SKU's settle_orders (one order's notification) in a round before it is
  /// skipped (logged, counted): its orders' committed quantities stay kept (memory, never stock;
  /// the order stays unnotified), and the others go on. With the defaults, about 25 s of failures.
  int max_attempts = 10;
};

/// A snapshot of a runner's counters; each field is read atomically, not all together.
struct settlement_stats {
  /// Rounds that read a page and saved its checkpoint, since start.
  uint64_t rounds = 0;
  /// Order ids sent in settle_orders and answered (each once per SKU and round; a repeat after a
  /// restart counts again), since start.
  uint64_t orders_settled = 0;
  /// settle_orders answered, since start.
  uint64_t commands = 0;
  /// record_notification answered (once per confirmed sale and round; a repeat after a restart
  /// counts again, and records nothing), since start.
  uint64_t notifications = 0;
  /// Failed attempts: reads, checkpoint saves, settle_orders or record_notification not answered
  /// or refused.
  uint64_t errors = 0;
  /// SKUs skipped after max_attempts (their page's orders stay kept there).
  uint64_t skus_skipped = 0;
  /// Notifications skipped: refused, or after max_attempts (the order stays unnotified).
  uint64_t notifications_skipped = 0;
  /// The global position of the saved checkpoint: after the last confirmation read.
  int64_t checkpoint = 0;
  /// The log's newest committed position, as read after the last round.
  int64_t newest_position = 0;
  /// newest_position - checkpoint, never negative: events after the last confirmation read (of
  /// any type: when nothing was confirmed for a while, it grows though nothing waits).
  int64_t lag = 0;
  /// Whether the last attempt failed (the runner is backing off).
  bool failing = false;
};

/// The sales confirmed in a page of the log (order.confirmed naming SKUs).
struct confirmed_sales {
  /// Their order ids by SKU, in log order.
  std::map<std::string, std::vector<std::string>> by_sku;
  /// Their order ids, in log order.
  std::vector<std::string> orders;

  bool empty() const { return orders.empty(); }
};

/// The sales confirmed in `events`; every other event is left out. A confirmation without SKUs
/// (the binary before the runner) is settled and notified by its own saga.
confirmed_sales confirmed_sales_in(const std::vector<persistence::recorded_event>& events);

/// Settles and notifies confirmed sales from the journal (a process manager): every `interval`
/// it reads the log after its checkpoint, groups the sales confirmed there by SKU, sends one
/// inventory::settle_orders per SKU through the inventory host and one
/// notification::record_notification{order, confirmed} per sale through the notification host
/// (all at once, at most max_in_flight awaiting their answer), waits for every answer, and only
/// then saves its checkpoint: at least once, and settling or notifying twice records nothing. An
/// order confirmed naming its SKUs ends at its confirmation: this runner is what settles and
/// notifies it. A SKU or a notification that fails is retried with back-off up to max_attempts,
/// then skipped (error log, skus_skipped / notifications_skipped); one refused is skipped at once
/// (decided on a current copy, it would be refused again); so one bad item cannot hold up the
/// others for ever.
///
/// Fail points: settlement.answered_in_part (the first answer of a round arrived, others may
/// not have), settlement.settled_before_checkpoint (all answered, the checkpoint not saved).
///
/// Starts in the constructor on its own thread with its own PostgreSQL connection; stop() (also
/// run by the destructor) returns within about one wait's slice (100 ms) plus one statement.
/// Stop it before the inventory and notification hosts and the actor system go. All methods are
/// thread-safe.
class settlement_runner {
public:
  settlement_runner(caf::actor_system& sys, config::pg_config pg, config::journal_config journal,
                    caf::actor inventory_host, caf::actor notification_host,
                    settlement_settings settings);
  ~settlement_runner();
  settlement_runner(const settlement_runner&) = delete;
  settlement_runner& operator=(const settlement_runner&) = delete;

  /// Stops and joins the thread. Idempotent.
  void stop();

  settlement_stats stats() const;

  /// Blocks until a round that started after this call found no full page and saved its
  /// checkpoint (every sale confirmed before the call that the log may deliver is settled and
  /// notified, or skipped), or until `timeout`. Returns whether it caught up. Cuts the current wait
  /// short.
  bool wait_until_caught_up(std::chrono::milliseconds timeout);

private:
  void run();
  /// Waits up to `delay` or until stop() or a waiter wakes the loop; false once stopping.
  bool pause(std::chrono::milliseconds delay);
  bool stopping() const;
  /// Sends every SKU's settle_orders and every sale's notification, retries failures, skips
  /// those out of attempts or refused; false if stopped before all were answered or skipped.
  bool settle_and_notify(const confirmed_sales& sales, const std::string& page_id);
  void failed(const std::string& what, const std::string& detail,
              std::chrono::milliseconds retry_in);

  caf::actor_system& sys_;
  const config::pg_config pg_;
  const config::journal_config journal_;
  const caf::actor inventory_host_;
  const caf::actor notification_host_;
  const settlement_settings settings_;

  std::atomic<uint64_t> rounds_{0};
  std::atomic<uint64_t> orders_settled_{0};
  std::atomic<uint64_t> commands_{0};
  std::atomic<uint64_t> notifications_{0};
  std::atomic<uint64_t> errors_{0};
  std::atomic<uint64_t> skus_skipped_{0};
  std::atomic<uint64_t> notifications_skipped_{0};
  std::atomic<int64_t> checkpoint_{0};
  std::atomic<int64_t> newest_position_{0};
  std::atomic<bool> failing_{false};

  /// A round catches up when it found no full page.
  util::polling_loop loop_; // last: its thread starts once everything above exists
};

} // namespace ordermesh::actors
