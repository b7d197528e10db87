#pragma once

// What the generic entity runtime (entity.hpp) asks of an aggregate's traits object `T`, one per
// entity instance:
//   using state_type, command_type, event_type, action_type;
//   using reply_type;   // what an accepted command answers (e.g. order::order_reply), in the
//                       // type-ID block; the host forwards it to the caller unchanged
//   using errc_type;    // the aggregate's errc (CAF_ERROR_CODE_ENUM): a rejection is answered
//                       // caf::make_error(errc_type{decision.rejected->code}, reason)
//   std::string kind(), snapshot_type();
//   decision<event_type> decide(const state_type&, const command_type&, const decide_context&);
//   state_type apply(state_type, const event_type&);
//   persistence::new_event encode(const event_type&);              // to_new_event(codec's encode)
//   std::optional<event_type> decode(const persistence::recorded_event&);
//   std::string encode_snapshot(const state_type&); std::optional<state_type> decode_snapshot(...);
//   Summary summary(const state_type&);                           // typed, e.g. order_summary
//   reply_type reply(const state_type&, const std::vector<std::string>& recorded_types,
//                    int64_t version);  // the reply; recorded_types: wire names of the events
//                                       // the command recorded (what the runtime remembers).
//                                       // A reply_type with a `bool repeated` member has it set
//                                       // by the runtime: the command recorded nothing this time
//                                       // (a redelivery of a message id it handled, answered
//                                       // with that outcome, or accepted without an event)
//   std::optional<command_type> from_message(const caf::message&);
//   std::optional<command_type> on_tick(const state_type&);       // timer-driven command
//   std::vector<action_type> reactions(const state_type& after, const event_type&, ctx);
//   std::vector<action_type> resume(const state_type&, ctx);      // after recovery / when stalled
//   void execute(caf::event_based_actor*, const state_type&, const std::vector<action_type>&,
//                const envelope& cause);                         // sends, after commit only
//   bool stalled(const state_type&, steady_clock::duration since_last_progress);
//   bool may_passivate(const state_type&);
// `passive_hooks` gives the last seven to an aggregate that only answers. Optional:
//   void committed(caf::event_based_actor*, const state_type& before, const state_type& after);
//                                      // after each durable append and each recovery (before:
//                                      // the copy it replaced, empty on activation): what
//                                      // became durable unanswered is heard too, maybe twice
//   bool starts_stream(const command_type&); // the command may be its stream's first (it creates
//                                      // the aggregate, under an id minted for it): an entity it
//                                      // activates takes its stream for empty instead of reading
//                                      // it, and an append at expected version 0 checks that
//                                      // (entity_runtime::activate). Without it: false.
//   bool acts_on_assumed_copy(const command_type&); // an accepted decision of the command that
//                                      // records nothing is carried out on a copy assumed
//                                      // empty (starts_stream), without reading the stream
//                                      // first. Only for a command whose effects are idempotent
//                                      // by a key at their receiver, whose outcome is recorded
//                                      // later by an append at expected version 0 (refused if
//                                      // the stream exists: the entity reads and decides again)
//                                      // and whose reply tells its caller nothing it relies on.
//                                      // Without it: false (such a decision reads first).
//   std::optional<timed_command<command_type>> timer(const state_type&, const action_type&);
//                                      // the action is a timer: the runtime sends the command
//                                      // to the entity itself `delay` after the action's commit,
//                                      // on its tick (no clock event of its own), unless the
//                                      // command would decide nothing by then; execute never
//                                      // sees it. Without it: every action goes to execute.
//   bool finished(const state_type&);  // pure: the aggregate's work is done (nothing left to send
//                                      // or wait for). The entity then ends right after the
//                                      // commit that left it so, when nothing is queued, in
//                                      // flight, armed or awaited; while an answer it asked for
//                                      // is awaited (e.g. the order's to a payment's report), at
//                                      // its next tick, within tick_interval, not at idle_timeout;
//                                      // a later command activates it again from
//                                      // its stream. Such an entity arms no passivation tick.
//                                      // Without it: never (it passivates when idle).

#include "actors/common/encoded_event.hpp"
#include "actors/common/envelope.hpp"
#include "persistence/event.hpp"

#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace caf {
class event_based_actor;
}

namespace ordermesh::actors::runtime {

/// The event a codec encoded, as the journal appends it; the entity sets its metadata.
inline persistence::new_event to_new_event(encoded_event e) {
  return persistence::new_event{std::move(e.type), e.schema_version, std::move(e.payload), "{}"};
}

/// A command an entity sends itself `delay` after the commit whose reaction it is (a saga step's
/// timeout, a retry's backoff), deduplicated by `message_id` like any command.
template <class Command>
struct timed_command {
  std::chrono::milliseconds delay{0};
  std::string message_id;
  Command command;
};

/// The action type of an aggregate that never sends anything on its own.
struct no_action {};

template <class State, class Command, class Event>
struct passive_hooks {
  using action_type = no_action;
  std::optional<Command> on_tick(const State&) const { return std::nullopt; }
  std::vector<no_action> reactions(const State&, const Event&, const decide_context&) const {
    return {};
  }
  std::vector<no_action> resume(const State&, const decide_context&) const { return {}; }
  void execute(caf::event_based_actor*, const State&, const std::vector<no_action>&,
               const envelope&) {}
  bool stalled(const State&, std::chrono::steady_clock::duration) const { return false; }
  bool may_passivate(const State&) const { return true; }
};

} // namespace ordermesh::actors::runtime
