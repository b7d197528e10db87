#pragma once

#include "actors/inventory/codec.hpp"
#include "actors/inventory/errors.hpp"
#include "actors/inventory/replies.hpp"
#include "actors/inventory/state.hpp"
#include "actors/runtime/entity_traits.hpp"
#include "actors/runtime/host_settings.hpp"
#include "actors/runtime/messages.hpp"
#include "actors/runtime/supervised.hpp"
#include "persistence/event.hpp"
#include "persistence/journal.hpp"
#include "persistence/reader.hpp"

#include <caf/fwd.hpp>

#include <optional>
#include <string>
#include <vector>

namespace ordermesh::actors::inventory {

/// The inventory aggregate as the generic entity runtime (actors/runtime/entity.hpp) needs it.
struct inventory_traits : runtime::passive_hooks<inventory_state, command, event> {
  using state_type = inventory_state;
  using command_type = command;
  using event_type = event;
  using reply_type = inventory_reply;
  using errc_type = inventory_errc;

  std::string kind() const { return "inventory"; }
  std::string snapshot_type() const { return "inventory.state.v2"; }
  inventory_decision decide(const inventory_state& s, const command& c,
                            const decide_context& ctx) const {
    return inventory::decide(s, c, ctx);
  }
  inventory_state apply(inventory_state s, const event& e) const {
    return inventory::apply(std::move(s), e);
  }
  persistence::new_event encode(const event& e) const {
    return runtime::to_new_event(inventory::encode(e));
  }
  std::optional<event> decode(const persistence::recorded_event& e) const {
    return inventory::decode(e.type, e.schema_version, e.payload);
  }
  std::string encode_snapshot(const inventory_state& s) const {
    return inventory::encode_snapshot(s);
  }
  std::optional<inventory_state> decode_snapshot(const std::string& payload) const {
    return inventory::decode_snapshot(payload);
  }
  inventory_summary summary(const inventory_state& s) const;
  /// The summary and what the command recorded (recorded_of each wire name).
  inventory_reply reply(const inventory_state& s, const std::vector<std::string>& recorded_types,
                        int64_t version) const;
  /// The command in a message routed to an inventory entity, if it is one.
  std::optional<command> from_message(const caf::message& msg) const;
  /// expire_reservations when any reservation is held.
  std::optional<command> on_tick(const inventory_state& s) const;
  /// Only without reservations: a passivated SKU could not expire its holds, and the read model
  /// would show them reserved until its next command.
  bool may_passivate(const inventory_state& s) const { return s.reservations.empty(); }
};

/// Spawns the host of the inventory entities ("inventory/<sku>"), one single writer per SKU.
caf::actor spawn_inventory_host(caf::actor_system& sys,
                                runtime::supervised<persistence::journal_actor> journal,
                                persistence::reader_actor reader, runtime::host_settings settings);

} // namespace ordermesh::actors::inventory
