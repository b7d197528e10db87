#pragma once

#include "actors/order/codec.hpp"
#include "actors/order/errors.hpp"
#include "actors/order/replies.hpp"
#include "actors/order/state.hpp"
#include "actors/runtime/directory.hpp"
#include "actors/runtime/entity_traits.hpp"
#include "actors/runtime/host_settings.hpp"
#include "actors/runtime/messages.hpp"
#include "actors/runtime/supervised.hpp"
#include "persistence/journal.hpp"
#include "persistence/reader.hpp"

#include <caf/fwd.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace ordermesh::actors::order {

/// The order aggregate and its saga as the generic entity runtime needs them. The saga's progress
/// is the order stream itself: every step is an order event, every reaction is computed by the
/// pure saga_decide/saga_resume and sent only after the event is durable.
struct order_traits {
  using state_type = order_state;
  using command_type = command;
  using event_type = event;
  using action_type = saga_action;
  using reply_type = order_reply;
  using errc_type = order_errc;

  runtime::directory_ptr hosts;
  saga_policy policy;

  std::string kind() const { return "order"; }
  std::string snapshot_type() const { return "order.state.v1"; }
  order_decision decide(const order_state& s, const command& c, const decide_context& ctx) const {
    return order::decide(s, c, ctx, policy);
  }
  order_state apply(order_state s, const event& e) const { return order::apply(std::move(s), e); }
  persistence::new_event encode(const event& e) const {
    return runtime::to_new_event(order::encode(e));
  }
  std::optional<event> decode(const persistence::recorded_event& e) const {
    return order::decode(e.type, e.schema_version, e.payload);
  }
  std::string encode_snapshot(const order_state& s) const { return order::encode_snapshot(s); }
  std::optional<order_state> decode_snapshot(const std::string& payload) const {
    return order::decode_snapshot(payload);
  }
  order_summary summary(const order_state& s) const {
    return {s.order_id, s.status, s.reason, s.amount_cents, s.payment_attempt, s.saga_completed};
  }
  order_reply reply(const order_state& s, const std::vector<std::string>&, int64_t version) const {
    return {version, summary(s)};
  }
  std::optional<command> from_message(const caf::message& msg) const;
  /// An order's stream starts with its placement (the gateway mints the order id): an order
  /// entity activated by it assumes its stream empty and reads nothing first.
  bool starts_stream(const command& c) const { return std::holds_alternative<place_order>(c); }
  std::optional<command> on_tick(const order_state&) const { return std::nullopt; }
  std::vector<saga_action> reactions(const order_state& s, const event& e,
                                     const decide_context& ctx) const {
    return saga_decide(s, e, policy, ctx);
  }
  std::vector<saga_action> resume(const order_state& s, const decide_context& ctx) const {
    return saga_resume(s, policy, ctx);
  }
  /// saga_effects: the payment's report that the sale was reversed returns the stock at once; a
  /// first reservation timeout of an order taking its stock takes again.
  std::vector<saga_action> effects(const order_state& s, const command& c,
                                   const decide_context&) const {
    return saga_effects(s, c, policy);
  }
  /// A schedule_timeout as the runtime's timer: record_timeout{step, attempt} to this order after
  /// delay_ms, delivered by the entity's tick (dropped once it would record nothing).
  std::optional<runtime::timed_command<command>> timer(const order_state& s,
                                                       const saga_action& action) const;
  /// Sends the saga's steps to the inventory, payment and notification entities (its timers are
  /// the runtime's: timer); their answers come back as record_* commands to this order.
  void execute(caf::event_based_actor* self, const order_state& s,
               const std::vector<saga_action>& actions, const envelope& cause);
  /// Once the order's terminal event is durable, tells the node's completion listeners (again
  /// after each recovery that finds the order ended: a lost append reply must not lose it).
  void committed(caf::event_based_actor* self, const order_state& before,
                 const order_state& after) const;
  /// A saga with no commit for two step timeouts sends its pending steps again.
  bool stalled(const order_state& s, std::chrono::steady_clock::duration since) const {
    return s.status != order_status::none && !s.saga_completed &&
           since > std::chrono::milliseconds(2 * policy.step_timeout_ms);
  }
  /// order::finished: the entity ends right after the commit that finished it (at its next tick
  /// if an answer it asked for is still awaited).
  bool finished(const order_state& s) const { return order::finished(s); }
  /// Only orders with nothing left to do passivate: an open saga stays in memory.
  bool may_passivate(const order_state& s) const {
    return s.status == order_status::none || s.saga_completed;
  }
};

/// Spawns the host of the order entities ("order/<order id>").
caf::actor spawn_order_host(caf::actor_system& sys,
                            runtime::supervised<persistence::journal_actor> journal,
                            persistence::reader_actor reader, runtime::host_settings settings,
                            runtime::directory_ptr hosts, saga_policy policy);

} // namespace ordermesh::actors::order
