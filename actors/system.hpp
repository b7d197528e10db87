#pragma once

#include "actors/order/state.hpp"
#include "actors/payment/psp_gateway.hpp"
#include "actors/shard/directory.hpp"
#include "actors/shard/messages.hpp"
#include "config/config.hpp"
#include "persistence/journal.hpp"
#include "persistence/reader.hpp"

#include <caf/fwd.hpp>

namespace ordermesh::actors {

/// Everything one node runs: the journal writer, the recovery reader, the PSP gateway and the
/// four entity hosts. Stop it before the actor system goes away.
struct node_actors {
  persistence::journal_actor journal;
  persistence::reader_actor reader;
  payment::psp_gateway_actor psp;
  shard::directory_ptr hosts;

  /// Stops the hosts (and so their entities), then the gateway, reader and journal.
  void stop();
};

/// Wakes every order whose saga the journal shows unfinished (after a crash of the whole process):
/// each recovers and resends its pending steps. Blocks until the journal answered; returns how
/// many were woken, or an error if the journal could not be read.
caf::expected<size_t> resume_unfinished_orders(caf::actor_system& sys, const node_actors& node);

/// Starts them in dependency order. The database schema must already be migrated.
node_actors start_node_actors(caf::actor_system& sys, const config::app_config& cfg,
                              shard::host_settings settings, order::saga_policy policy);

/// The same, with the hosts and the saga configured by cfg.entity and cfg.saga.
node_actors start_node_actors(caf::actor_system& sys, const config::app_config& cfg);

/// The entity settings of the configuration.
shard::host_settings host_settings_from(const config::entity_config& entity);

/// The saga policy of the configuration.
order::saga_policy saga_policy_from(const config::saga_config& saga);

} // namespace ordermesh::actors
