#pragma once

#include "actors/common/envelope.hpp"
#include "actors/common/outcome.hpp"
#include "actors/payment/errors.hpp"
#include "actors/payment/messages.hpp"
#include "actors/payment/psp_messages.hpp"
#include "actors/payment/replies.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace ordermesh::actors::payment {

/// Where one authorization attempt (one idempotency key at the PSP) stands.
enum class attempt_status : uint8_t {
  /// Sent; no answer yet.
  pending,
  /// The PSP holds money for it.
  authorized,
  /// The PSP refused it: nothing is held.
  declined,
  /// No usable answer (timeout, connection, 5xx): it may or may not hold money.
  failed,
  /// The PSP confirmed that it holds nothing (voided, or cancelled before it was carried out).
  released,
};

/// One attempt, kept for the payment's whole life so that a late answer always finds it.
struct attempt_record {
  /// 1-based, in the order the attempts were requested.
  int32_t number = 0;
  std::string idempotency_key;
  attempt_status status = attempt_status::pending;
  std::string psp_reference;
};

/// One order's payment. Invariants: captured at most once, refunded only after a capture; once the
/// payment is decided (authorized, captured, refunded, declined or voided), every attempt other
/// than the one it captures is released at the PSP (holds_to_release).
struct payment_state {
  payment_status status = payment_status::none;
  int64_t amount_cents = 0;
  std::string card_token;
  /// The latest attempt's key and number.
  std::string idempotency_key;
  int32_t attempt = 0;
  /// The PSP reference and key of the attempt the payment uses (captures).
  std::string psp_reference;
  std::string authorized_key;
  /// Why the latest attempt was declined or failed.
  std::string reason;
  /// Every attempt so far, oldest first.
  std::vector<attempt_record> attempts;
  /// The PSP confirmed the capture (recorded as capture_confirmed; a sale's with sold).
  bool capture_confirmed = false;
  /// The PSP confirmed the refund (recorded as refund_confirmed; a sale's reversal is recorded
  /// only once confirmed, as sale_reversed).
  bool refund_confirmed = false;
  /// The key of the order's sale (authorize and capture in one call) once one was recorded (sold,
  /// sale_declined, sale_reversed); empty for a payment that authorizes first.
  std::string sale_key;
};

/// The attempt sent with `idempotency_key`, or nullptr.
const attempt_record* find_attempt(const payment_state& s, const std::string& idempotency_key);

/// Keys of the attempts whose (possible) hold must be released at the PSP now: none while the
/// payment is still open (none, requested, failed: any attempt may yet be the one); once it is
/// decided, every attempt neither declined nor released, except the one it authorized and still
/// uses (authorized, captured, refunded).
std::vector<std::string> holds_to_release(const payment_state& s);

/// Whether the payment owes the PSP nothing more: no hold left to release (holds_to_release),
/// its capture, if it captured (also if it refunded since), confirmed, and its refund, if it
/// refunded, confirmed. Its order's saga is done with it only then.
bool settled(const payment_state& s);

/// Whether the payment's work is finished: decided (captured, declined, refunded or voided; a
/// sale sold, declined or reversed) and settled (nothing owed to the PSP). Its outcome is
/// reported by the reactions to the event that decided it (sent before its entity may end). Its
/// entity then ends at once; a later command (a reversal, a refund, a repeat) activates it again
/// from its stream.
bool finished(const payment_state& s);

/// Whether the payment waits on the PSP: an authorization pending, or not settled (a capture or
/// refund unconfirmed, a hold still to release). Its entity sends again what it owes (resume) when
/// that stalls, and does not passivate meanwhile.
bool waiting_on_psp(const payment_state& s);

/// The attempt whose hold the payment uses (authorized, captured or refunded), or nullptr.
const attempt_record* authorization_in_use(const payment_state& s);

/// What every reply of the payment tells its order (payment_reply::summary).
payment_summary summary_of(const payment_state& s);

bool operator==(const payment_state& x, const payment_state& y);

/// What to tell the order about how one attempt ended.
struct report_authorization {
  int32_t attempt = 0;
  /// The attempt's idempotency key.
  std::string idempotency_key;
  psp_outcome outcome = psp_outcome::failed;
  std::string reason;
  std::string psp_reference;

  /// The report's message id suffix: the attempt's key, the outcome and the attempt number, so
  /// that each attempt's result is its own message and a late one is never taken for a repeat of
  /// another's (a sale's attempts share one key).
  std::string identity() const;
};

/// The report of how attempt `a` ended, if that moved the payment: the authorization the payment
/// uses, or its latest attempt's decline or failure. Surplus holds are released, not reported.
std::optional<report_authorization> report_of(const payment_state& s, const attempt_record& a);

using payment_decision = decision<event>;

/// Decides one command against `state`.
/// - authorize: authorization_requested (attempt + 1) when none or failed, or pending under
///   another, new key; no event for a known key or when authorized or captured;
///   invalid_payment, payment_declined, payment_closed.
/// - record_psp_result: per attempt, by its key. authorized is always recorded (also late, also
///   after the payment moved on, unless the attempt already holds that reference): while the
///   payment is open it becomes the payment's authorization, else a surplus hold to release.
///   declined and failed are recorded for a pending attempt (failed also for an attempt never
///   answered); they move the payment only when they answer its latest attempt. unknown_payment
///   before any request; no event for an unknown key or a repeated result.
/// - record_hold_released: hold_released for a known attempt not released yet; else no event.
/// - capture: captured; no event if already captured or refunded; not_authorized otherwise.
/// - record_capture_confirmed: capture_confirmed once, after captured (also once refunded since).
/// - refund: refunded; no event if already refunded; not_captured otherwise.
/// - record_refund_confirmed: refund_confirmed once, after refunded; else no event.
/// - void_authorization: voided (the payment closes, every hold is released); no event if
///   voided; already_captured after capture.
/// - sell: no event (the PSP call is the command's effect, sale_effects); no event either once
///   the sale was sold or declined (the outcome is reported again); invalid_payment;
///   payment_closed after a reversal or for a payment that authorizes first.
/// - record_sale_result: sold or sale_declined for a payment with nothing recorded yet; failed:
///   no event (reported to the order); no event once the sale has an outcome or was reversed.
/// - reverse_sale: no event (the PSP call is its effect); record_sale_reversed: sale_reversed
///   unless the sale was declined or reversed already (then no event).
payment_decision decide(const payment_state& state, const command& cmd, const decide_context& ctx);

/// Whether the payment is a sale that holds and charges nothing (declined or reversed): what an
/// order's compensation waits for.
bool sale_closed(const payment_state& s);

/// Tells the order that its payment is captured and settled (order::record_capture).
struct report_capture {};

/// Tells the order that its sale was reversed (recorded): its stock may go back.
struct report_sale_reversed {};

/// What the payment does besides recording events: a call to the PSP (its answer comes back as a
/// record_* command), or a report to its order. Every action may be sent again: the PSP
/// deduplicates by the idempotency key, the order by the report's message id.
using payment_action =
    std::variant<psp_request, report_authorization, report_capture, report_sale_reversed>;

/// What to do now that `ev` is recorded (`after` includes it) for the payment of `order_id`:
/// - authorization_requested: authorize the attempt at the PSP.
/// - authorized, declined, authorization_failed: release the holds now due (holds_to_release);
///   report the attempt if that moved the payment (report_of).
/// - captured: capture at the PSP under "<order_id>/capture"; voided: release the holds.
/// - refunded: refund at the PSP under "<order_id>/refund" once the capture is confirmed (a
///   refund before the capture reached the PSP would find nothing to refund).
/// - capture_confirmed: the refund, if one was recorded meanwhile; else, like hold_released:
///   report_capture once a captured payment is settled.
/// - sold, sale_declined: report the sale's outcome; sale_reversed: report_sale_reversed.
std::vector<payment_action> reactions(const payment_state& after, const event& ev,
                                      const std::string& order_id);

/// What a payment recovered from its journal (or stalled: waiting on the PSP too long) sends
/// again, so that it ends as one that never stopped: the holds due for release, the authorization
/// of a requested attempt, the report of a decided attempt, the capture until it is confirmed, then
/// the refund (if recorded) until it is confirmed, the report of a settled capture; a sale reports
/// its outcome again.
std::vector<payment_action> resume(const payment_state& s, const std::string& order_id);

/// What the payment does for an accepted sale command besides recording events (`after` is the
/// state once its events are recorded): the PSP call of a sale (under its key) or of a reversal
/// (under "<key>/reverse") not yet done, or the report of an outcome known already.
std::vector<payment_action> sale_effects(const payment_state& after, const command& cmd);

/// Folds one event into the state; handles every event and cannot fail.
payment_state apply(payment_state state, const event& ev);

/// Folds `events` in order, starting from `state`.
payment_state apply_all(payment_state state, const std::vector<event>& events);

} // namespace ordermesh::actors::payment
