#pragma once

#include "actors/common/envelope.hpp"
#include "actors/common/outcome.hpp"
#include "actors/inventory/errors.hpp"
#include "actors/inventory/replies.hpp"
#include "actors/order/errors.hpp"
#include "actors/order/messages.hpp"
#include "actors/payment/replies.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ordermesh::actors::order {

/// Limits of a valid order.
constexpr size_t max_lines = 50;
constexpr int32_t max_line_qty = 10'000;

/// Retry and timeout budget of the order saga (read from configuration by the actor).
struct saga_policy {
  /// Authorization attempts before the order is cancelled.
  int32_t max_payment_attempts = 3;
  /// How long one step (all reservations, one authorization attempt) may take.
  int64_t step_timeout_ms = 2000;
  /// Backoff before retry n is retry_base_ms * 2^(n-1), at most retry_max_ms, plus jitter.
  int64_t retry_base_ms = 100;
  int64_t retry_max_ms = 5000;
  /// Stock commit rounds without the inventory's decision before the order is cancelled (its
  /// lines are then given back, committed or not; no money was captured yet).
  int32_t max_commit_rounds = 20;
  /// How long the inventory holds a reservation for this order.
  int64_t reservation_ttl_ms = 60'000;
};

/// Where one line stands: pending -> reserved | failed; reserved -> committed | commit_refused.
enum class line_reservation : uint8_t { pending, reserved, failed, committed, commit_refused };

struct line_state {
  std::string sku;
  int32_t qty = 0;
  line_reservation reservation = line_reservation::pending;
};

/// One order and how far its saga got.
struct order_state {
  std::string order_id;
  std::string customer_id;
  std::vector<line_state> lines;
  std::string card_token;
  int64_t amount_cents = 0;
  order_status status = order_status::none;
  /// The latest authorization attempt requested (0 = none yet).
  int32_t payment_attempt = 0;
  /// The latest attempt that failed; equal to payment_attempt while backing off before a retry.
  int32_t failed_attempt = 0;
  std::string psp_reference;
  /// The payment is authorized: the saga is committing the stock (status stays reserved).
  bool authorized = false;
  /// The latest stock commit round requested (0 = none yet).
  int32_t commit_attempt = 0;
  /// The latest commit round that failed; equal to commit_attempt while backing off.
  int32_t failed_commit_attempt = 0;
  /// Why the order was rejected or cancelled.
  std::string reason;
  /// Nothing left to do: captured (confirmed orders; a sale confirmed naming its SKUs at its
  /// confirmation) or compensated (rejected and cancelled ones).
  bool saga_completed = false;
  /// The payment is a sale (authorize and capture at once), requested once every line's stock was
  /// committed (recorded by sale_requested, or by the confirmation or cancellation of an order
  /// still taking, whose first sale is recorded by no event); false for an order on the older
  /// path (authorize, commit, capture) and for one rejected while taking (a refused take: no
  /// sale was ever sent).
  bool sale = false;
  /// Confirmed as a sale naming its SKUs: the settlement runner settles its stock and notifies it
  /// from the journal. Confirmed straight from placed (no sale request recorded: this binary's
  /// first sale), the saga ends with the confirmation; after a recorded sale request
  /// (payment_attempt > 0) it notifies the order itself too and ends once answered
  /// (payment_captured), as the binary before this one did: that binary's runner may have saved
  /// its checkpoint past the confirmation with the notification still unsent.
  bool settled_by_runner = false;

  /// A sale confirmed naming its SKUs whose saga notifies it itself (see settled_by_runner).
  bool notifies_itself() const { return settled_by_runner && payment_attempt > 0; }

  bool terminal() const { return is_terminal(status); }

  bool awaiting_payment_retry() const {
    return status == order_status::reserved && !authorized && payment_attempt > 0 &&
           failed_attempt == payment_attempt;
  }

  /// Authorized and waiting for the inventory to commit every line; also an order the old binary
  /// confirmed (it recorded the authorization and the confirmation together) whose lines are
  /// still reserved: they are committed before anything is captured.
  bool committing() const {
    return (status == order_status::reserved && authorized) ||
           (confirmed_before_commit() && !saga_completed && has_line(line_reservation::reserved));
  }

  /// Between commit rounds. An old-binary confirmed order starts here with round 0.
  bool awaiting_commit_retry() const {
    return committing() && failed_commit_attempt == commit_attempt;
  }

  /// Confirmed by the old binary without a stock commit step: some line was never committed.
  bool confirmed_before_commit() const {
    return status == order_status::confirmed &&
           std::any_of(lines.begin(), lines.end(), [](const line_state& l) {
             return l.reservation != line_reservation::committed;
           });
  }

  /// Placed and taking its lines' stock (reserve and commit at once), or, every line taken, its
  /// first sale on its way (recorded by no event). An order the older binary placed goes on
  /// reserving once one of its lines is reserved.
  bool taking() const {
    return status == order_status::placed && !has_line(line_reservation::reserved);
  }

  bool has_line(line_reservation r) const {
    return std::any_of(lines.begin(), lines.end(),
                       [&](const line_state& l) { return l.reservation == r; });
  }
};

bool operator==(const line_state& x, const line_state& y);
bool operator==(const order_state& x, const order_state& y);

using order_decision = decision<event>;

/// Decides one command against `state`. After a terminal event nothing records a second one:
/// late replies and timers are accepted with no event.
/// - place_order: order_placed; no event if already placed; invalid_order if it breaks a rule.
/// - record_stock_taken: no event (the inventory made each take durable, and the order takes
///   again after a crash); the first sale is its effect once every line is committed or in its
///   skus (saga_effects); unknown_line for a sku not ordered.
/// - record_stock_commit{attempt 0} while taking (placed): refused -> stock_reservation_failed +
///   order_rejected; committed (like record_stock_taken of its sku) or failed: no event.
/// - record_authorization while taking (placed: its first sale is recorded by no event):
///   authorized -> order_confirmed{every line's sku}; declined -> order_cancelled (from any
///   attempt: final for the key); failed, attempt 1 -> sale_requested{1} +
///   payment_attempt_failed{1} (+ order_cancelled once the budget is spent); another attempt's
///   failure: no event.
/// - record_authorization of a sale: authorized -> order_confirmed (from any attempt: one key, one
///   charge); declined -> order_cancelled (from any attempt: final for the key); failed -> as
///   below.
/// - record_stock_settled of a confirmed sale: payment_captured (the saga is done); no event once
///   done; unexpected_reply for any other order (also a sale settled by the runner).
/// - record_notified: payment_captured for a sale that notifies itself (settled_by_runner); no
///   event for one confirmed straight from placed or once done; unexpected_reply for any other
///   order.
/// - record_reservation (older path): stock_reserved (+ payment_requested{1} once every line is
///   reserved), or stock_reservation_failed + order_rejected; unknown_order, unknown_line.
/// - record_authorization: authorized -> payment_authorized + stock_commit_requested{1} (from any
///   attempt: the money is held); declined -> order_cancelled; failed -> payment_attempt_failed
///   (+ order_cancelled once policy.max_payment_attempts are spent); stale attempts: no event.
/// - record_stock_commit: committed -> stock_committed, refused -> stock_commit_refused (from any
///   round); once every line has one of the two: order_confirmed if all are committed, else
///   order_cancelled (never confirms, so never captures, without every line's stock; an order
///   the old binary confirmed records only the line events). failed -> stock_commit_failed for
///   the current round (a retry follows), plus order_cancelled once policy.max_commit_rounds are
///   spent (compensation gives back every line, committed or not); unknown_line;
///   unexpected_reply before authorization.
/// - record_timeout: reservation -> order_cancelled (an order taking its stock: no event on the
///   first round's timeout, it takes again: saga_effects; cancelled later, its first sale may be
///   on its way, so it is given back as a sale: the key reversed, then the stock returned);
///   payment -> like a failed attempt (while taking: like its first sale's failure);
///   payment_retry -> payment_requested{attempt + 1} (sale_requested for a sale); stock_commit ->
///   like a failed round;
///   stock_commit_retry -> stock_commit_requested{attempt + 1} (round 0 for an order the old
///   binary confirmed); stale timers: no event.
/// - record_capture: payment_captured; capture_failed if not ok; unexpected_reply if unconfirmed.
/// - record_sale_reversed: no event (saga_on_sale_reversed is its effect).
/// - record_compensated: compensation_completed; unexpected_reply unless rejected or cancelled
///   (or confirmed by the old binary with a line whose stock is gone).
order_decision decide(const order_state& state, const command& cmd, const decide_context& ctx,
                      const saga_policy& policy);

/// Folds one event into the state; handles every event and cannot fail.
order_state apply(order_state state, const event& ev);

/// Whether the order's work is finished: it ended (confirmed, rejected or cancelled) and its saga
/// has nothing left (a sale confirmed naming its SKUs straight from placed: at once, the
/// settlement runner settles and notifies it from the journal; one confirmed after a recorded sale
/// request: payment_captured once its own notification answered; a sale confirmed without SKUs:
/// payment_captured once every settle answered; the older path: payment_captured; an order that did
/// not confirm: compensation_completed). Its entity then ends at once; a late command activates it
/// again from its stream.
bool finished(const order_state& state);

/// Folds `events` in order, starting from `state`.
order_state apply_all(order_state state, const std::vector<event>& events);

// -- the saga: a pure process manager over the order stream --------------------------------------

/// What to send after `just_happened` was recorded; `state` already includes it. Called once per
/// recorded event, in order.
/// A sale confirmed naming its SKUs: nothing (the settlement runner settles and notifies it from
/// the journal). A sale confirmed without SKUs (order_confirmed, and again from saga_resume while
/// its saga is open): notify and settle_stock for every line; the older path: capture_payment and
/// notify, then settle_stock after payment_captured. A rejected or cancelled order: its
/// compensation and notify. sale_requested{n}: sale attempt n, for n >= 2 (sale_requested{1} is
/// recorded with the first sale's failure, which schedules the retry: the first sale is the
/// takes' effect, saga_effects).
std::vector<saga_action> saga_decide(const order_state& state, const event& just_happened,
                                     const saga_policy& policy, const decide_context& ctx);

/// What a cancelled sale-path order sends once its payment reports the sale reversed
/// (record_sale_reversed): the stock of every line the sale was for goes back at once
/// (return_stock), without waiting for the reversal's reply or a resend. Nothing for any other
/// order, or once its saga completed.
std::vector<saga_action> saga_on_sale_reversed(const order_state& state);

/// What an accepted command sends besides its events' reactions (`state` includes its events):
/// record_sale_reversed -> saga_on_sale_reversed; the first reservation timeout of an order taking
/// its stock -> every pending line's take again, timed as round 2 (the takes may all have been
/// answered committed while the answers or the order's record of them were lost; the inventory
/// answers a repeated take the same); record_stock_taken (or a committed take) that leaves no
/// line of an order still taking untaken -> its first sale (sell_payment{1}, marked first only if
/// record_stock_taken::took_now: else a sale may have been sent before, and the payment reads its
/// stream first) and its payment timer; nothing for any other command.
std::vector<saga_action> saga_effects(const order_state& state, const command& cmd,
                                      const saga_policy& policy);

/// What to (re)send for an order recovered from its journal, so that a crash at any step resumes:
/// the receivers are idempotent, so resending is safe. Nothing for a completed saga (nor for a sale
/// confirmed naming its SKUs).
std::vector<saga_action> saga_resume(const order_state& state, const saga_policy& policy,
                                     const decide_context& ctx);

// -- what the saga makes of its steps' answers (the actor sends the steps and reports these) -----

/// A reserve (reserve_stock) the inventory accepted: reserved unless it recorded the reservation
/// rejected (a lack of stock: reason "out_of_stock"); a repeat that recorded nothing is reserved.
record_reservation reservation_answer(const std::string& sku,
                                      const inventory::inventory_reply& reply);

/// A reserve the inventory rejected: not reserved, for the inventory's reason.
record_reservation reservation_refusal(const std::string& sku, const std::string& reason);

/// A take (take_stock: inventory::commit with a quantity) the inventory accepted: committed if it
/// recorded the commit (a take whose own older hold expired records that expiry first) or nothing
/// (a repeat), else refused ("out_of_stock": it recorded the reservation rejected).
record_stock_commit take_answer(const std::string& sku, const inventory::inventory_reply& reply);

/// A take the inventory rejected: refused, for the inventory's reason.
record_stock_commit take_refusal(const std::string& sku, const std::string& reason);

/// Whether the take answered `reply` committed the order's units now: it recorded the commit in
/// this delivery (not a repeat, not a redelivery answered with its first outcome).
bool took_now(const inventory::inventory_reply& reply);

/// Gathers the answers to one batch of takes (the take_stock actions of one `execute`) into what
/// the order records: the first refusal at once (record_stock_commit, refused), and
/// record_stock_taken once every take of the batch was answered committed. A committed line is
/// not recorded by itself: the inventory made it durable and answers a repeated take the same,
/// so after a crash the order takes again. A transient failure decides nothing (the reservation
/// timer covers it), and so does the batch once it reported.
class take_tally {
public:
  /// The takes among `actions`.
  explicit take_tally(const std::vector<saga_action>& actions);

  /// Whether the batch has no take.
  bool empty() const { return awaited_.empty(); }

  /// What to report to the order once `answer` (to one of the batch's takes) arrived, if anything;
  /// `now`: the take committed its units in this answer (took_now), reported as
  /// record_stock_taken::took_now if every take of the batch did (a repeat in the batch means an
  /// earlier batch may have had every line taken and sent a sale).
  std::optional<command> add(const record_stock_commit& answer, bool now);

private:
  std::vector<std::string> awaited_;
  std::vector<std::string> taken_;
  /// Every take of the batch answered so far committed its units now.
  bool all_now_ = true;
  bool reported_ = false;
};

/// A commit of a held reservation (commit_stock, round `attempt`) the inventory rejected: refused,
/// "<inventory_errc>: <reason>" (accepted: committed; no answer: failed, retried).
record_stock_commit commit_refusal(const std::string& sku, int32_t attempt,
                                   inventory::inventory_errc code, const std::string& reason);

/// An authorize's reply: the authorization it shows (the payment reports each outcome itself, but
/// that report may be lost), if the payment uses one.
std::optional<record_authorization> authorization_answer(const payment::payment_summary& summary);

/// A capture's reply: record_capture once the capture is confirmed and no surplus hold is left
/// (the payment's own report may be lost).
std::optional<record_capture> capture_answer(const payment::payment_summary& summary);

/// A void's reply: the compensation step is done only once the PSP released every hold; until
/// then the saga stays open and asks again. (A void the payment rejects, a captured payment, is
/// refunded instead.)
bool void_done(const payment::payment_summary& summary);

/// A reverse_sale's reply: the sale holds and charges nothing and never will (declined, voided or
/// refunded); only then is its stock given back.
bool sale_closed(const payment::payment_summary& summary);

/// Backoff before the retry that follows failed attempt `failed_attempt` (1-based):
/// base = min(retry_base_ms * 2^(failed_attempt-1), retry_max_ms), plus base/2 * jitter_fraction.
int64_t retry_delay_ms(const saga_policy& policy, int32_t failed_attempt, double jitter_fraction);

} // namespace ordermesh::actors::order
