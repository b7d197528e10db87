#pragma once

#include "actors/payment/codec.hpp"
#include "actors/payment/psp_gateway.hpp"
#include "actors/payment/state.hpp"
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
#include <variant>

namespace ordermesh::actors::payment {

/// One order's payment ("payment/<order id>") as the generic entity runtime needs it. What to do
/// is decided by the pure core (payment::reactions, payment::resume, payment::sale_effects in
/// state.hpp); execute() carries the actions out: PSP calls through the PSP gateway, whose answers
/// come back as record_* commands, and reports to the order.
struct payment_traits {
  using state_type = payment_state;
  using command_type = command;
  using event_type = event;
  using action_type = payment_action;
  using reply_type = payment_reply;
  using errc_type = payment_errc;

  runtime::directory_ptr hosts;
  /// The PSP gateway that runs now (supervised::route).
  runtime::supervised<psp_gateway_actor> psp;
  std::string order_id;
  std::chrono::milliseconds psp_timeout{1500};

  std::string kind() const { return "payment"; }
  std::string snapshot_type() const { return "payment.state.v2"; }
  payment_decision decide(const payment_state& s, const command& c,
                          const decide_context& ctx) const {
    return payment::decide(s, c, ctx);
  }
  payment_state apply(payment_state s, const event& e) const {
    return payment::apply(std::move(s), e);
  }
  persistence::new_event encode(const event& e) const {
    return runtime::to_new_event(payment::encode(e));
  }
  std::optional<event> decode(const persistence::recorded_event& e) const {
    return payment::decode(e.type, e.schema_version, e.payload);
  }
  std::string encode_snapshot(const payment_state& s) const { return payment::encode_snapshot(s); }
  std::optional<payment_state> decode_snapshot(const std::string& payload) const {
    return payment::decode_snapshot(payload);
  }
  /// What the order learns from every reply (summary_of).
  payment_summary summary(const payment_state& s) const { return summary_of(s); }
  payment_reply reply(const payment_state& s, const std::vector<std::string>&,
                      int64_t version) const {
    return {version, summary(s)};
  }
  std::optional<command> from_message(const caf::message& msg) const;
  /// A payment's stream starts with the order's first payment command (a sale, or an
  /// authorization on the older path): a payment entity activated by it assumes its stream empty.
  bool starts_stream(const command& c) const {
    return std::holds_alternative<sell>(c) || std::holds_alternative<authorize>(c);
  }
  /// The order's first sell (sell::first) calls the PSP on a copy assumed new, unread. Safe when
  /// the stream exists after all (a sell::first redelivered late): the PSP answers the sale key
  /// with its first answer (sold or declined, no second charge; a key reversed before the sale
  /// arrived is refused), and its outcome is recorded at expected version 0, refused; the entity
  /// reads and decides the outcome again on the stream (a late answer: nothing recorded) and
  /// reports what the stream holds (resume). The reply (version 0, nothing sold) is not read by
  /// the order, which learns the outcome from the report only. Resent sells read first: the PSP
  /// keeps a key for a window only, and one resent past it (a node down for a day) would charge
  /// again a sale the stream already holds.
  bool acts_on_assumed_copy(const command& c) const {
    const auto* s = std::get_if<sell>(&c);
    return s != nullptr && s->first;
  }
  std::optional<command> on_tick(const payment_state&) const { return std::nullopt; }
  /// payment::reactions.
  std::vector<payment_action> reactions(const payment_state& s, const event& e,
                                        const decide_context&) const;
  /// payment::resume.
  std::vector<payment_action> resume(const payment_state& s, const decide_context&) const;
  /// payment::sale_effects: the PSP call of a sale or reversal, or the report of a known outcome.
  std::vector<payment_action> effects(const payment_state& after, const command& c,
                                      const decide_context&) const;
  void execute(caf::event_based_actor* self, const payment_state& s,
               const std::vector<payment_action>& actions, const envelope& cause);
  bool stalled(const payment_state& s, std::chrono::steady_clock::duration since) const {
    return waiting_on_psp(s) && since > 2 * psp_timeout;
  }
  bool may_passivate(const payment_state& s) const { return !waiting_on_psp(s); }
  /// payment::finished: the entity ends right after the commit that finished it (at its next
  /// tick if an answer it asked for is still awaited: usually the order's, to its report).
  bool finished(const payment_state& s) const { return payment::finished(s); }
};

/// Spawns the host of the payment entities.
caf::actor spawn_payment_host(caf::actor_system& sys,
                              runtime::supervised<persistence::journal_actor> journal,
                              persistence::reader_actor reader, runtime::host_settings settings,
                              runtime::directory_ptr hosts,
                              runtime::supervised<psp_gateway_actor> psp,
                              std::chrono::milliseconds psp_timeout);

} // namespace ordermesh::actors::payment
