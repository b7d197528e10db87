#pragma once

#include "actors/order/state.hpp"
#include "actors/payment/psp_gateway.hpp"
#include "actors/runtime/directory.hpp"
#include "actors/runtime/host_settings.hpp"
#include "actors/runtime/messages.hpp"
#include "actors/runtime/supervised.hpp"
#include "actors/settlement_runner.hpp"
#include "config/config.hpp"
#include "persistence/journal.hpp"
#include "persistence/reader.hpp"

#include <caf/actor.hpp>
#include <caf/fwd.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace ordermesh::actors {

/// Whether each core component of a node runs now (the journal writer, the reader, the PSP
/// gateway), kept current by its supervisor; read from any thread without asking an actor.
struct core_status {
  std::atomic<bool> journal{false};
  std::atomic<bool> reader{false};
  std::atomic<bool> psp{false};
  /// Whether all four entity hosts run. One that ended is not restarted: the commands it held
  /// (their callers wait without a timeout) are lost with it, so the node must stop
  /// (`ordermesh standalone` exits with status 1).
  std::atomic<bool> hosts{false};
  /// Restarts of any of them since start.
  std::atomic<uint64_t> restarts{0};
  /// The journal writer finished no batch for supervision_settings::stall_after while appends
  /// waited: its worker hangs in a statement.
  std::atomic<bool> journal_stalled{false};

  /// The names of the components down now ("journal", "reader", "psp", "hosts"); empty when all
  /// run.
  std::vector<std::string> down() const;

  /// The database health of the current journal writer and reader incarnations, kept current by
  /// their workers (nullptr before the first start). Read from any thread.
  std::shared_ptr<const persistence::store_health> journal_health() const;
  std::shared_ptr<const persistence::store_health> reader_health() const;

  /// The components that run but whose last statement did not reach the database, or (the
  /// journal) whose worker is stalled ("journal", "reader"); empty when all reach it.
  std::vector<std::string> unreachable() const;

  /// Called by the supervisors when an incarnation starts.
  void publish_journal_health(std::shared_ptr<const persistence::store_health> h);
  void publish_reader_health(std::shared_ptr<const persistence::store_health> h);

private:
  // Accessed with std::atomic_load/atomic_store only.
  std::shared_ptr<const persistence::store_health> journal_health_;
  std::shared_ptr<const persistence::store_health> reader_health_;
};

/// Figures for /metrics, refreshed by the node's gauge poller every supervision_settings::
/// gauge_interval (one round of requests at a time), so that a scrape reads atomics and asks no
/// actor. The journal counters never fall: the journal's supervisor adds up every incarnation
/// (those that ended, as last seen, plus the current one).
struct node_gauges {
  std::atomic<uint64_t> journal_batches{0};
  std::atomic<uint64_t> journal_events{0};
  std::atomic<uint64_t> journal_conflicts{0};
  std::atomic<uint64_t> journal_failed{0};
  std::atomic<uint64_t> journal_commit_us{0};
  std::atomic<uint64_t> journal_largest_batch{0};
  /// Commands waiting for the entities of each kind (their host's count: handed on and not
  /// answered yet, or kept while they restart or passivate).
  std::atomic<uint64_t> mailbox_order{0};
  std::atomic<uint64_t> mailbox_inventory{0};
  std::atomic<uint64_t> mailbox_payment{0};
  std::atomic<uint64_t> mailbox_notification{0};
};

/// How the node supervises its core components and refreshes its gauges.
struct supervision_settings {
  /// First restart delay after a component died; doubles per death up to backoff_max, and
  /// starts over once the component ran for twice backoff_max.
  std::chrono::milliseconds backoff_min{100};
  std::chrono::milliseconds backoff_max{5000};
  /// How often node_gauges are refreshed; also how often a journal writer whose last statement
  /// did not reach the database is probed (an append that can only conflict, writing nothing),
  /// so that its health recovers without waiting for a client's write.
  std::chrono::milliseconds gauge_interval{1000};
  /// A dead journal writer or reader is restarted only after its detached database worker ended
  /// too (a worker stuck in a statement keeps its connection and could still commit), but not
  /// later than this after the restart was due: how many connections a hang can pile up.
  std::chrono::milliseconds old_worker_wait{60000};
  /// A journal writer that finished no batch for this long while appends waited is stalled.
  std::chrono::milliseconds stall_after{5000};
};

/// Everything one node runs: the journal writer, the recovery reader, the PSP gateway, the
/// four entity hosts and the settlement runner. Stop it before the actor system goes away.
///
/// `journal`, `reader` and `psp` are stable handles of supervisors that forward to the current
/// incarnation of the component: when it dies they restart it with back-off, answer what was in
/// flight at it (an append: outcome_unknown; a read: unavailable; a PSP call:
/// request_receiver_down) and, until it is back, answer at once (unavailable, or
/// request_receiver_down for the PSP). The entities' appends and the payments' PSP calls skip
/// the supervisor while an incarnation runs (`journal_now`, `psp_now`); that incarnation answers
/// what it holds when it ends. Sent
/// (get_atom) as a caf::actor, each answers the current incarnation (an invalid handle while
/// restarting). The journal's stats (get_atom, journal_stats_atom) add up every incarnation, so
/// they never fall across restarts, and are answered from what was last seen while the journal
/// restarts.
struct node_actors {
  persistence::journal_actor journal;
  /// The journal writer's incarnation that runs now, published by its supervisor: the entities
  /// send their appends to it directly (runtime::supervised), and to `journal` while none runs.
  std::shared_ptr<runtime::incarnation_slot> journal_now =
      std::make_shared<runtime::incarnation_slot>();
  persistence::reader_actor reader;
  payment::psp_gateway_actor psp;
  /// The PSP gateway's incarnation that runs now: the payments call it directly.
  std::shared_ptr<runtime::incarnation_slot> psp_now =
      std::make_shared<runtime::incarnation_slot>();
  runtime::directory_ptr hosts;
  std::shared_ptr<core_status> status = std::make_shared<core_status>();
  std::shared_ptr<node_gauges> gauges = std::make_shared<node_gauges>();
  /// Refreshes `gauges`.
  caf::actor gauge_poller;
  /// Monitors the hosts: sets status->hosts false when one ends.
  caf::actor host_watch;
  /// Settles confirmed sales from the journal through the inventory host.
  std::shared_ptr<settlement_runner> settlement;

  /// Stops the settlement runner, the gauge poller, the host watch and the hosts (and so their
  /// entities), then the gateway, reader and journal.
  void stop();
};

/// Wakes every order whose saga the journal shows unfinished (neither payment_captured,
/// compensation_completed nor, straight from placed, an order.confirmed naming SKUs; after a crash
/// of the whole process):
/// each recovers and resends its pending steps. Blocks until the journal answered; returns how
/// many were woken, or an error if the journal could not be read.
caf::expected<size_t> resume_unfinished_orders(caf::actor_system& sys, const node_actors& node);

/// Starts them in dependency order. The database schema must already be migrated.
node_actors start_node_actors(caf::actor_system& sys, const config::app_config& cfg,
                              runtime::host_settings settings, order::saga_policy policy,
                              supervision_settings supervision = {});

/// The same, with the hosts and the saga configured by cfg.entity and cfg.saga.
node_actors start_node_actors(caf::actor_system& sys, const config::app_config& cfg);

/// The entity settings of the configuration.
runtime::host_settings host_settings_from(const config::entity_config& entity);

/// The settlement runner's settings of the configuration.
settlement_settings settlement_settings_from(const config::settlement_config& settlement);

/// The saga policy of the configuration.
order::saga_policy saga_policy_from(const config::saga_config& saga);

} // namespace ordermesh::actors
