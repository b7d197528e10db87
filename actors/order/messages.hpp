#pragma once

#include "util/fields.hpp"

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

/// Messages of one order (stream "order/<order_id>"): the order and its saga's progress.
namespace ordermesh::actors::order {

// -- shared values --------------------------------------------------------------------------------

struct order_line {
  std::string sku;
  int32_t qty = 0;
};

struct payment_details {
  /// The PSP's token for the card; never the card number.
  std::string card_token;
  int64_t amount_cents = 0;
};

/// What the PSP answered to one authorization attempt.
enum class payment_outcome : uint8_t {
  authorized,
  /// Final: the card was refused.
  declined,
  /// Transient: PSP error or unreachable; worth a retry.
  failed,
};

/// The saga step a timeout belongs to.
enum class saga_step : uint8_t {
  /// Waiting for every line's reservation.
  reservation,
  /// Waiting for the PSP's answer to one authorization attempt.
  payment,
  /// Backing off before the next authorization attempt.
  payment_retry,
  /// Waiting for the inventory's answers to one round of stock commits.
  stock_commit,
  /// Backing off before the next round of stock commits.
  stock_commit_retry,
};

/// What the inventory answered to one line's stock commit.
enum class commit_outcome : uint8_t {
  /// The units left the stock on hand for this order (also for a repeated commit).
  committed,
  /// Final: the inventory no longer holds the reservation (expired, released, unknown).
  refused,
  /// Transient: no decision (overloaded, journal unavailable, no answer); worth a retry.
  failed,
};

/// none -> placed (taking every line's stock) -> reserved (every line's stock committed: selling)
/// -> confirmed | rejected | cancelled. An order is confirmed only once every line's stock is
/// committed. Orders recorded by an earlier binary may be on the older path: placed (reserving)
/// -> reserved (authorizing, then committing the stock) -> confirmed, captured afterwards.
enum class order_status : uint8_t { none, placed, reserved, confirmed, rejected, cancelled };

/// The one list of order status names: in events and snapshots, the read model, the HTTP API and
/// its OpenAPI document. Everything that names a status takes it from here.
inline constexpr std::array<std::pair<order_status, std::string_view>, 6> order_status_names{{
    {order_status::none, "none"},
    {order_status::placed, "placed"},
    {order_status::reserved, "reserved"},
    {order_status::confirmed, "confirmed"},
    {order_status::rejected, "rejected"},
    {order_status::cancelled, "cancelled"},
}};

/// "placed", "confirmed", ... (order_status_names).
inline std::string to_string(order_status x) {
  for (const auto& [status, name] : order_status_names) {
    if (status == x) {
      return std::string{name};
    }
  }
  return "?";
}

/// The status of that name, if it is one.
inline std::optional<order_status> order_status_from(std::string_view name) {
  for (const auto& [status, n] : order_status_names) {
    if (n == name) {
      return status;
    }
  }
  return std::nullopt;
}

/// Confirmed, rejected or cancelled: the order's saga decided it, nothing changes it any more.
inline bool is_terminal(order_status x) {
  return x == order_status::confirmed || x == order_status::rejected ||
         x == order_status::cancelled;
}

// -- commands -------------------------------------------------------------------------------------

struct place_order {
  std::string order_id;
  std::string customer_id;
  std::vector<order_line> lines;
  payment_details payment;
};

/// The inventory's answer for one line.
struct record_reservation {
  std::string sku;
  bool ok = false;
  std::string reason;
};

/// The payment's answer for one authorization attempt.
struct record_authorization {
  int32_t attempt = 0;
  payment_outcome outcome = payment_outcome::failed;
  std::string reason;
  std::string psp_reference;
};

/// The inventory's answer to the stock commit of one line, sent in commit round `attempt`; round
/// 0 is the take of a placed order (reserve and commit at once).
struct record_stock_commit {
  std::string sku;
  int32_t attempt = 0;
  commit_outcome outcome = commit_outcome::failed;
  std::string reason;
};

/// The payment's answer to the capture.
struct record_capture {
  bool ok = false;
};

/// Every line in `skus` was taken (the inventory committed its units to the order and answers a
/// repeat the same): the take_tally of one batch of takes reports this once all of them answered.
/// Recorded by no event: its effect is the order's first sale.
struct record_stock_taken {
  std::vector<std::string> skus;
  /// Every take of the batch committed its units now (none a repeat): no earlier batch had any
  /// line taken, so no sale of the order was ever sent, and this one is its first (sell::first).
  bool took_now = false;
};

/// A timer the saga scheduled has fired.
struct record_timeout {
  saga_step step = saga_step::reservation;
  int32_t attempt = 0;
};

/// Every compensation (releases, void or refund) of a rejected or cancelled order is done.
struct record_compensated {};

/// The payment recorded the reversal of the order's sale: it holds and charges nothing and never
/// will, so a cancelled order's stock may go back now.
struct record_sale_reversed {};

/// Every line's inventory answered the settle of the order's sale (forgot its committed
/// quantity): the last step of a confirmed sale.
struct record_stock_settled {};

/// The notification of a confirmed sale's end answered: the last step of a sale confirmed with
/// its SKUs for the binary before this one. No longer sent (the settlement runner notifies such a
/// sale from the journal); a late one is accepted and records nothing.
struct record_notified {};

using command =
    std::variant<place_order, record_reservation, record_authorization, record_stock_commit,
                 record_capture, record_timeout, record_compensated, record_sale_reversed,
                 record_stock_taken, record_stock_settled, record_notified>;

// -- events ---------------------------------------------------------------------------------------

struct order_placed {
  std::string order_id;
  std::string customer_id;
  std::vector<order_line> lines;
  std::string card_token;
  int64_t amount_cents = 0;
};

struct stock_reserved {
  std::string sku;
};

struct stock_reservation_failed {
  std::string sku;
  std::string reason;
};

/// Authorization attempt `attempt` (1-based) starts (the older path: authorize, commit, capture).
struct payment_requested {
  int32_t attempt = 0;
};

/// Every line's stock is committed: sale attempt `attempt` (1-based) starts. A sale authorizes and
/// captures at once; every attempt is sent with the order's one sale key, so the PSP charges at
/// most once. It also records every line committed: the order records no event per taken line
/// (streams of earlier binaries have a stock_committed per line before it). The first sale is
/// sent unrecorded (the effect of record_stock_taken); sale_requested{1} is recorded only together
/// with that attempt's failure (payment_attempt_failed{1}), for the retries to build on; earlier
/// binaries recorded it before their first sale.
struct sale_requested {
  int32_t attempt = 0;
};

struct payment_authorized {
  std::string psp_reference;
};

struct payment_attempt_failed {
  int32_t attempt = 0;
  std::string reason;
};

/// Commit round `attempt` (1-based) starts: every line not yet committed is committed.
struct stock_commit_requested {
  int32_t attempt = 0;
};

/// The inventory committed this line's units to the order.
struct stock_committed {
  std::string sku;
};

/// Commit round `attempt` got no decision for some line (transient); a retry follows.
struct stock_commit_failed {
  int32_t attempt = 0;
  std::string reason;
};

/// The inventory refused this line's commit for good: it no longer holds the units.
struct stock_commit_refused {
  std::string sku;
  std::string reason;
};

/// Terminal: every line's stock is committed and the payment is authorized; capture follows.
/// A sale names the SKUs its stock was committed at (`skus`): the settlement runner settles them
/// and notifies the order from the journal, and the order's saga ends here. Empty for the older
/// path and for a sale confirmed by the binary before the runner (its saga settles each line
/// itself).
struct order_confirmed {
  std::vector<std::string> skus;
};

/// Terminal: a line could not be reserved.
struct order_rejected {
  std::string reason;
};

/// Terminal: payment declined, failed past its retries, a step timed out, or a line's stock could
/// not be committed.
struct order_cancelled {
  std::string reason;
};

/// After order_confirmed: the payment is captured; the saga is done. A sale's payment is captured
/// with its authorization (order_confirmed): a sale confirmed without SKUs records this once every
/// line's inventory settled the sale (record_stock_settled), so that an order whose last step was
/// lost is unfinished; one confirmed naming its SKUs records nothing more (the binary before this
/// one recorded this once its notification answered, record_notified).
struct payment_captured {};

/// After order_rejected or order_cancelled: compensation is done; the saga is done.
struct compensation_completed {};

using event = std::variant<order_placed, stock_reserved, stock_reservation_failed,
                           payment_requested, payment_authorized, payment_attempt_failed,
                           stock_commit_requested, stock_committed, stock_commit_failed,
                           stock_commit_refused, order_confirmed, order_rejected, order_cancelled,
                           payment_captured, compensation_completed, sale_requested>;

// -- saga actions: what the order actor sends to other entities (it knows the order id) -----------

struct reserve_stock {
  std::string sku;
  int32_t qty = 0;
  int64_t ttl_ms = 0;
};

struct release_stock {
  std::string sku;
};

/// Commits the line's reserved units; the answer comes back as record_stock_commit{attempt}.
struct commit_stock {
  std::string sku;
  int32_t attempt = 0;
};

/// Takes the line's units at once (reserve and commit in one inventory step); the answers of one
/// batch of takes come back together (take_tally): record_stock_taken, or the first refusal as
/// record_stock_commit{attempt 0}. The inventory drops it past `deadline_ms` from now.
struct take_stock {
  std::string sku;
  int32_t qty = 0;
  int64_t deadline_ms = 0;
};

/// Sells (authorize and capture at once) under the order's sale key; the payment reports the
/// outcome as record_authorization{attempt}.
struct sell_payment {
  int64_t amount_cents = 0;
  std::string card_token;
  int32_t attempt = 0;
  /// The order's first payment command ever (payment::sell::first): the effect of every line taken
  /// where every take committed its units now (record_stock_taken::took_now). A resend (a repeated
  /// take round, resume, a later attempt) says false: the payment reads its stream first.
  bool first = false;
};

/// Gives back units committed to an order that was then cancelled (a compensating restock).
struct return_stock {
  std::string sku;
  int32_t qty = 0;
};

/// The order completed as confirmed (paid, every line committed): no return can follow, so the
/// line's inventory stops keeping the order's committed quantity (inventory::settle). Once every
/// line of a sale answered, the order is told record_stock_settled.
struct settle_stock {
  std::string sku;
};

/// Makes sure the order's sale key holds and charges nothing (refunded if it was sold), and only
/// once the payment confirms that, gives back `then_return`: stock is never given back while a
/// sale of it may still be carried out.
struct reverse_sale_payment {
  std::vector<return_stock> then_return;
};

struct authorize_payment {
  int64_t amount_cents = 0;
  std::string card_token;
  int32_t attempt = 0;
};

struct capture_payment {};

/// Voids the authorization, or refunds if it was captured.
struct void_or_refund_payment {};

struct notify {
  order_status status = order_status::none;
};

/// Send record_timeout{step, attempt} back to the order after delay_ms (on its tick).
struct schedule_timeout {
  saga_step step = saga_step::reservation;
  int32_t attempt = 0;
  int64_t delay_ms = 0;
};

using saga_action =
    std::variant<reserve_stock, release_stock, commit_stock, return_stock, authorize_payment,
                 capture_payment, void_or_refund_payment, notify, schedule_timeout, take_stock,
                 sell_payment, reverse_sale_payment, settle_stock>;

// -- what the node is told ----------------------------------------------------------------------

/// An order reached its terminal state (confirmed, rejected or cancelled) and that event is
/// durable. The order entity sends it once, right after the commit, to the node's completion
/// listeners (runtime::directory::order_completions), e.g. the gateway answering a
/// POST /orders?wait request. Not a record: a listener that missed it (a crash, a late
/// subscriber) learns the end from the read model instead; hearing it twice is harmless.
struct order_completed {
  std::string order_id;
  order_status status = order_status::none;
  /// Why it was rejected or cancelled; empty when confirmed.
  std::string reason;
};

// -- field lists: inspect() (CAF serialization) and operator==/!= (util/fields.hpp) ----------

OM_FIELDS(order_line, sku, qty)
OM_FIELDS(payment_details, card_token, amount_cents)
OM_FIELDS(place_order, order_id, customer_id, lines, payment)
OM_FIELDS(record_reservation, sku, ok, reason)
OM_FIELDS(record_authorization, attempt, outcome, reason, psp_reference)
OM_FIELDS(record_stock_commit, sku, attempt, outcome, reason)
OM_FIELDS(record_stock_taken, skus, took_now)
OM_FIELDS(record_capture, ok)
OM_FIELDS(record_timeout, step, attempt)
OM_NO_FIELDS(record_compensated)
OM_NO_FIELDS(record_sale_reversed)
OM_NO_FIELDS(record_stock_settled)
OM_NO_FIELDS(record_notified)
OM_FIELDS(order_placed, order_id, customer_id, lines, card_token, amount_cents)
OM_FIELDS(stock_reserved, sku)
OM_FIELDS(stock_reservation_failed, sku, reason)
OM_FIELDS(payment_requested, attempt)
OM_FIELDS(sale_requested, attempt)
OM_FIELDS(payment_authorized, psp_reference)
OM_FIELDS(payment_attempt_failed, attempt, reason)
OM_FIELDS(stock_commit_requested, attempt)
OM_FIELDS(stock_committed, sku)
OM_FIELDS(stock_commit_failed, attempt, reason)
OM_FIELDS(stock_commit_refused, sku, reason)
OM_FIELDS(order_confirmed, skus)
OM_FIELDS(order_rejected, reason)
OM_FIELDS(order_cancelled, reason)
OM_NO_FIELDS(payment_captured)
OM_NO_FIELDS(compensation_completed)
OM_FIELDS(reserve_stock, sku, qty, ttl_ms)
OM_FIELDS(release_stock, sku)
OM_FIELDS(commit_stock, sku, attempt)
OM_FIELDS(take_stock, sku, qty, deadline_ms)
OM_FIELDS(sell_payment, amount_cents, card_token, attempt, first)
OM_FIELDS(return_stock, sku, qty)
OM_FIELDS(settle_stock, sku)
OM_FIELDS(reverse_sale_payment, then_return)
OM_FIELDS(authorize_payment, amount_cents, card_token, attempt)
OM_NO_FIELDS(capture_payment)
OM_NO_FIELDS(void_or_refund_payment)
OM_FIELDS(notify, status)
OM_FIELDS(schedule_timeout, step, attempt, delay_ms)
OM_FIELDS(order_completed, order_id, status, reason)

} // namespace ordermesh::actors::order
