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

/// Starts them in dependency order. The database schema must already be migrated.
node_actors start_node_actors(caf::actor_system& sys, const config::app_config& cfg,
                              shard::host_settings settings, order::saga_policy policy);

} // namespace ordermesh::actors
