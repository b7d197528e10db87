#include "actors/order/state.hpp"

#include "actors/common/overloaded.hpp"
#include "actors/inventory/errors.hpp"

#include <algorithm>
#include <optional>
#include <set>
#include <tuple>

namespace ordermesh::actors::order {

bool operator==(const line_state& x, const line_state& y) {
  return x.sku == y.sku && x.qty == y.qty && x.reservation == y.reservation;
}

bool operator==(const order_state& x, const order_state& y) {
  auto fields = [](const order_state& s) {
    return std::tie(s.order_id, s.customer_id, s.lines, s.card_token, s.amount_cents, s.status,
                    s.payment_attempt, s.failed_attempt, s.psp_reference, s.authorized,
                    s.commit_attempt, s.failed_commit_attempt, s.reason, s.saga_completed, s.sale,
                    s.settled_by_runner);
  };
  return fields(x) == fields(y);
}

namespace {

using outcome = order_decision;

outcome invalid(std::string reason) {
  return reject<event>(order_errc::invalid_order, std::move(reason));
}

outcome unexpected(std::string reason) {
  return reject<event>(order_errc::unexpected_reply, std::move(reason));
}

/// Whether `cmd` places the order `s` already holds: a redelivery, not a second order that happens
/// to carry the same id (an HTTP idempotency key reused with another body).
bool same_order(const order_state& s, const place_order& cmd) {
  if (cmd.order_id != s.order_id || cmd.customer_id != s.customer_id ||
      cmd.payment.card_token != s.card_token || cmd.payment.amount_cents != s.amount_cents ||
      cmd.lines.size() != s.lines.size()) {
    return false;
  }
  for (size_t i = 0; i < cmd.lines.size(); ++i) {
    if (cmd.lines[i].sku != s.lines[i].sku || cmd.lines[i].qty != s.lines[i].qty) {
      return false;
    }
  }
  return true;
}

outcome decide_place(const order_state& s, const place_order& cmd) {
  if (s.status != order_status::none) {
    if (!same_order(s, cmd)) {
      return reject<event>(order_errc::conflicting_order,
                           "order " + s.order_id + " was placed with different contents");
    }
    return accept<event>(); // redelivered
  }
  if (cmd.order_id.empty() || cmd.customer_id.empty()) {
    return invalid("order_id and customer_id are required");
  }
  if (cmd.lines.empty() || cmd.lines.size() > max_lines) {
    return invalid("an order has 1 to " + std::to_string(max_lines) + " lines");
  }
  std::set<std::string> skus;
  for (const auto& line : cmd.lines) {
    if (line.sku.empty() || line.qty <= 0 || line.qty > max_line_qty) {
      return invalid("each line needs a sku and a qty of 1 to " + std::to_string(max_line_qty));
    }
    if (!skus.insert(line.sku).second) {
      return invalid("duplicate line for sku " + line.sku);
    }
  }
  if (cmd.payment.card_token.empty() || cmd.payment.amount_cents <= 0) {
    return invalid("a card token and a positive amount are required");
  }
  return accept<event>({order_placed{cmd.order_id, cmd.customer_id, cmd.lines,
                                     cmd.payment.card_token, cmd.payment.amount_cents}});
}

/// The inventory refused a line: the order is rejected. An SKU the inventory never stocked (its
/// errc's name as reason) is not a lack of stock, and the order says so.
outcome line_refused(const std::string& sku, const std::string& reason) {
  const bool unknown = reason == inventory::to_string(inventory::inventory_errc::unknown_sku);
  return accept<event>(
      {stock_reservation_failed{sku, reason},
       order_rejected{unknown ? reason + ": " + sku : "not enough stock of " + sku}});
}

/// What a stock answer for `sku` decides when it changes nothing: rejected if the order has no
/// such line, a no-op if the line is past `awaited` (late or repeated); nullopt while it awaits.
std::optional<outcome> unless_line_awaits(const order_state& s, const std::string& sku,
                                          line_reservation awaited) {
  auto line = std::find_if(s.lines.begin(), s.lines.end(),
                           [&](const line_state& l) { return l.sku == sku; });
  if (line == s.lines.end()) {
    return reject<event>(order_errc::unknown_line, "no line for sku " + sku);
  }
  if (line->reservation != awaited) {
    return accept<event>();
  }
  return std::nullopt;
}

outcome decide_reservation(const order_state& s, const record_reservation& cmd) {
  if (s.status != order_status::placed || s.has_line(line_reservation::committed)) {
    return accept<event>(); // late or repeated: the order moved on (or takes its stock)
  }
  if (auto unchanged = unless_line_awaits(s, cmd.sku, line_reservation::pending)) {
    return std::move(*unchanged);
  }
  if (!cmd.ok) {
    return line_refused(cmd.sku, cmd.reason);
  }
  auto others_reserved = std::all_of(s.lines.begin(), s.lines.end(), [&](const line_state& l) {
    return l.sku == cmd.sku || l.reservation == line_reservation::reserved;
  });
  if (others_reserved) {
    return accept<event>({stock_reserved{cmd.sku}, payment_requested{1}});
  }
  return accept<event>({stock_reserved{cmd.sku}});
}

/// Attempt `attempt` failed; the order is cancelled once the budget is spent.
outcome attempt_failed(int32_t attempt, std::string reason, const saga_policy& policy) {
  std::vector<event> events{payment_attempt_failed{attempt, reason}};
  if (attempt >= policy.max_payment_attempts) {
    events.emplace_back(order_cancelled{"payment failed after " + std::to_string(attempt) +
                                        " attempts: " + reason});
  }
  return accept<event>(std::move(events));
}

std::vector<std::string> committed_skus(const order_state& s) {
  std::vector<std::string> skus;
  for (const auto& line : s.lines) {
    if (line.reservation == line_reservation::committed) {
      skus.push_back(line.sku);
    }
  }
  return skus;
}

/// The answer to the order's first sale, which it sent unrecorded (the effect of every line
/// taken) while its journal still says placed. A sale is sent only once every line was taken, so
/// its success confirms with every line's SKU; a decline cancels (both final for the sale's one
/// key, from any attempt: the payment reports them as attempt 0); a failure of attempt 1 records
/// the sale with the failed attempt, for the retries to build on. Only attempt 1 is sent
/// unrecorded: another attempt's failure here is stale.
outcome decide_first_sale(const order_state& s, int32_t attempt, payment_outcome result,
                          const std::string& reason, const saga_policy& policy) {
  switch (result) {
    case payment_outcome::authorized: {
      std::vector<std::string> skus;
      for (const auto& line : s.lines) {
        skus.push_back(line.sku);
      }
      return accept<event>({order_confirmed{std::move(skus)}});
    }
    case payment_outcome::declined:
      return accept<event>({order_cancelled{"payment declined: " + reason}});
    case payment_outcome::failed:
      break;
  }
  if (attempt != 1) {
    return accept<event>();
  }
  auto failed = attempt_failed(attempt, reason, policy);
  failed.events.insert(failed.events.begin(), sale_requested{attempt});
  return failed;
}

bool awaiting_answer_to(const order_state& s, int32_t attempt) {
  return s.status == order_status::reserved && !s.authorized && attempt == s.payment_attempt &&
         !s.awaiting_payment_retry();
}

outcome decide_authorization(const order_state& s, const record_authorization& cmd,
                             const saga_policy& policy) {
  if (s.terminal()) {
    return accept<event>();
  }
  if (s.taking()) {
    return decide_first_sale(s, cmd.attempt, cmd.outcome, cmd.reason, policy);
  }
  if (s.status != order_status::reserved) {
    return unexpected("no authorization was requested");
  }
  if (s.sale && cmd.outcome == payment_outcome::authorized) {
    // The money moved, and every line's stock was committed before the sale was asked for: the
    // confirmation names their SKUs, so that the settlement runner settles them from the journal.
    return accept<event>({order_confirmed{committed_skus(s)}});
  }
  if (s.sale && cmd.outcome == payment_outcome::declined) {
    return accept<event>({order_cancelled{"payment declined: " + cmd.reason}});
  }
  if (cmd.outcome == payment_outcome::authorized) {
    if (s.authorized) {
      return accept<event>(); // repeated, or another attempt's hold: the payment voids extras
    }
    // Money is held: now the stock is committed; the order confirms only once it all is.
    return accept<event>({payment_authorized{cmd.psp_reference}, stock_commit_requested{1}});
  }
  if (!awaiting_answer_to(s, cmd.attempt)) {
    return accept<event>(); // a stale attempt's failure changes nothing
  }
  if (cmd.outcome == payment_outcome::declined) {
    return accept<event>({order_cancelled{"payment declined: " + cmd.reason}});
  }
  return attempt_failed(cmd.attempt, cmd.reason, policy);
}

bool decided(line_reservation r) {
  return r == line_reservation::committed || r == line_reservation::commit_refused;
}

/// `line` got its commit outcome `now`: once every line has one, the order confirms if all are
/// committed and is cancelled otherwise. Until then an unknown outcome may still commit units, so
/// nothing is compensated yet.
outcome settle_line(const order_state& s, const std::string& line, line_reservation now,
                    event line_event) {
  std::vector<event> events{std::move(line_event)};
  std::string refused;
  for (const auto& l : s.lines) {
    auto r = l.sku == line ? now : l.reservation;
    if (!decided(r)) {
      return accept<event>(std::move(events));
    }
    if (r == line_reservation::commit_refused) {
      refused += (refused.empty() ? "" : ", ") + l.sku;
    }
  }
  if (s.terminal()) {
    return accept<event>(std::move(events)); // confirmed by the old binary already
  }
  if (refused.empty()) {
    events.emplace_back(order_confirmed{});
  } else {
    events.emplace_back(order_cancelled{"stock no longer held for " + refused});
  }
  return accept<event>(std::move(events));
}

/// Commit round `attempt` got no decision; the order is cancelled once the rounds are spent. That
/// is safe: nothing was captured, and compensation gives back every line, committed or not.
outcome commit_round_failed(const order_state& s, int32_t attempt, std::string reason,
                            const saga_policy& policy) {
  std::vector<event> events{stock_commit_failed{attempt, std::move(reason)}};
  if (attempt >= policy.max_commit_rounds && !s.terminal()) {
    events.emplace_back(
        order_cancelled{"stock commit undecided after " + std::to_string(attempt) + " rounds"});
  }
  return accept<event>(std::move(events));
}

/// A placed order's take of one line: a refused line rejects the order (compensation gives back
/// whatever was taken); a committed one records nothing (the take tally reports committed takes
/// together, as record_stock_taken).
outcome decide_take(const order_state& s, const record_stock_commit& cmd) {
  if (auto unchanged = unless_line_awaits(s, cmd.sku, line_reservation::pending)) {
    return std::move(*unchanged);
  }
  if (cmd.outcome == commit_outcome::refused) {
    return line_refused(cmd.sku, cmd.reason);
  }
  return accept<event>(); // committed (the inventory holds it), or no decision (the timer)
}

/// Every take of a batch answered committed: nothing is recorded (the inventory made each take
/// durable, and answers a repeat the same); the first sale is its effect (saga_effects).
outcome decide_taken(const order_state& s, const record_stock_taken& cmd) {
  for (const auto& sku : cmd.skus) {
    auto ordered = std::any_of(s.lines.begin(), s.lines.end(),
                               [&](const line_state& l) { return l.sku == sku; });
    if (!ordered) {
      return reject<event>(order_errc::unknown_line, "no line for sku " + sku);
    }
  }
  return accept<event>();
}

outcome decide_stock_commit(const order_state& s, const record_stock_commit& cmd,
                            const saga_policy& policy) {
  if (s.taking()) {
    return decide_take(s, cmd);
  }
  if (!s.committing()) {
    return s.terminal() ? accept<event>() : unexpected("no stock commit was requested");
  }
  if (auto unchanged = unless_line_awaits(s, cmd.sku, line_reservation::reserved)) {
    return std::move(*unchanged); // unknown line, or its outcome is known already
  }
  switch (cmd.outcome) {
    case commit_outcome::committed: // from any round: the units are the order's
      return settle_line(s, cmd.sku, line_reservation::committed, stock_committed{cmd.sku});
    case commit_outcome::refused:
      return settle_line(s, cmd.sku, line_reservation::commit_refused,
                         stock_commit_refused{cmd.sku, cmd.reason});
    case commit_outcome::failed:
      if (cmd.attempt == s.commit_attempt && !s.awaiting_commit_retry()) {
        return commit_round_failed(s, cmd.attempt, cmd.sku + ": " + cmd.reason, policy);
      }
      break;
  }
  return accept<event>(); // a stale round's failure, or the round already failed
}

/// Rounds of takes a placed order sends before its reservation timer cancels it: every take may
/// have been answered committed while the answers, or the order's record of them
/// (record_stock_taken, which the order sends itself), were lost; the inventory answers a
/// repeated take the same, so asking again costs no stock.
constexpr int32_t take_rounds = 2;

bool takes_again(const order_state& s, const record_timeout& cmd) {
  return cmd.step == saga_step::reservation && s.taking() && cmd.attempt < take_rounds;
}

outcome decide_timeout(const order_state& s, const record_timeout& cmd, const saga_policy& policy) {
  switch (cmd.step) {
    case saga_step::reservation:
      if (takes_again(s, cmd)) {
        return accept<event>(); // saga_effects sends the takes again
      }
      if (s.status == order_status::placed) {
        return accept<event>({order_cancelled{"reservation timed out"}});
      }
      break;
    case saga_step::payment:
      if (s.taking()) {
        return decide_first_sale(s, cmd.attempt, payment_outcome::failed, "timed out", policy);
      }
      if (awaiting_answer_to(s, cmd.attempt)) {
        return attempt_failed(cmd.attempt, "timed out", policy);
      }
      break;
    case saga_step::payment_retry:
      if (s.awaiting_payment_retry() && cmd.attempt == s.payment_attempt) {
        return s.sale ? accept<event>({sale_requested{cmd.attempt + 1}})
                      : accept<event>({payment_requested{cmd.attempt + 1}});
      }
      break;
    case saga_step::stock_commit:
      if (s.committing() && cmd.attempt == s.commit_attempt && !s.awaiting_commit_retry()) {
        return commit_round_failed(s, cmd.attempt, "timed out", policy);
      }
      break;
    case saga_step::stock_commit_retry:
      if (s.awaiting_commit_retry() && cmd.attempt == s.commit_attempt) {
        return accept<event>({stock_commit_requested{cmd.attempt + 1}});
      }
      break;
  }
  return accept<event>(); // stale timer
}

outcome decide_capture(const order_state& s, const record_capture& cmd) {
  if (s.status != order_status::confirmed) {
    return unexpected("capture of an unconfirmed order");
  }
  if (s.saga_completed) {
    return accept<event>();
  }
  if (!cmd.ok) {
    return reject<event>(order_errc::capture_failed, "capture failed");
  }
  return accept<event>({payment_captured{}});
}

/// Confirmed by the old binary, but a line's stock is gone: the money is given back, not taken.
bool unsold_after_confirmation(const order_state& s) {
  return s.confirmed_before_commit() && !s.committing() &&
         s.has_line(line_reservation::commit_refused);
}

outcome decide_stock_settled(const order_state& s) {
  if (s.saga_completed) {
    return accept<event>();
  }
  if (s.status != order_status::confirmed || !s.sale || s.settled_by_runner) {
    return unexpected("only a confirmed sale is settled");
  }
  return accept<event>({payment_captured{}});
}

/// A sale confirmed naming its SKUs after a recorded sale request notifies itself and ends with
/// the answer (payment_captured); one confirmed straight from placed is finished at its
/// confirmation, and a stray answer records nothing.
outcome decide_notified(const order_state& s) {
  if (s.saga_completed) {
    return accept<event>(); // also a sale that ended at its confirmation (apply)
  }
  if (s.notifies_itself()) {
    return accept<event>({payment_captured{}});
  }
  return unexpected("no saga waits for its notification's answer");
}

outcome decide_compensated(const order_state& s) {
  if (s.status != order_status::rejected && s.status != order_status::cancelled &&
      !unsold_after_confirmation(s)) {
    return unexpected("only a rejected or cancelled order is compensated");
  }
  if (s.saga_completed) {
    return accept<event>();
  }
  return accept<event>({compensation_completed{}});
}

} // namespace

order_decision decide(const order_state& state, const command& cmd, const decide_context&,
                      const saga_policy& policy) {
  if (state.status == order_status::none && !std::holds_alternative<place_order>(cmd)) {
    return reject<event>(order_errc::unknown_order, "the order was never placed");
  }
  return std::visit(
      overloaded{
          [&](const place_order& x) { return decide_place(state, x); },
          [&](const record_reservation& x) { return decide_reservation(state, x); },
          [&](const record_authorization& x) { return decide_authorization(state, x, policy); },
          [&](const record_stock_taken& x) { return decide_taken(state, x); },
          [&](const record_stock_commit& x) { return decide_stock_commit(state, x, policy); },
          [&](const record_capture& x) { return decide_capture(state, x); },
          [&](const record_timeout& x) { return decide_timeout(state, x, policy); },
          [&](const record_compensated&) { return decide_compensated(state); },
          // Nothing to record: its effect (saga_on_sale_reversed) gives the stock back.
          [&](const record_sale_reversed&) { return accept<event>(); },
          [&](const record_stock_settled&) { return decide_stock_settled(state); },
          [&](const record_notified&) { return decide_notified(state); },
      },
      cmd);
}

namespace {

void set_line(order_state& s, const std::string& sku, line_reservation r) {
  for (auto& line : s.lines) {
    if (line.sku == sku) {
      line.reservation = r;
    }
  }
}

} // namespace

order_state apply(order_state s, const event& ev) {
  std::visit(
      overloaded{
          [&](const order_placed& x) {
            s.order_id = x.order_id;
            s.customer_id = x.customer_id;
            s.lines.clear();
            for (const auto& line : x.lines) {
              s.lines.push_back(line_state{line.sku, line.qty, line_reservation::pending});
            }
            s.card_token = x.card_token;
            s.amount_cents = x.amount_cents;
            s.status = order_status::placed;
          },
          [&](const stock_reserved& x) {
            set_line(s, x.sku, line_reservation::reserved);
            auto all = std::all_of(s.lines.begin(), s.lines.end(), [](const line_state& l) {
              return l.reservation == line_reservation::reserved;
            });
            if (all) {
              s.status = order_status::reserved;
            }
          },
          [&](const stock_reservation_failed& x) { set_line(s, x.sku, line_reservation::failed); },
          [&](const payment_requested& x) { s.payment_attempt = x.attempt; },
          [&](const payment_authorized& x) {
            s.psp_reference = x.psp_reference;
            s.authorized = true;
          },
          [&](const payment_attempt_failed& x) { s.failed_attempt = x.attempt; },
          [&](const stock_commit_requested& x) { s.commit_attempt = x.attempt; },
          [&](const stock_committed& x) {
            set_line(s, x.sku, line_reservation::committed);
            auto all = std::all_of(s.lines.begin(), s.lines.end(), [](const line_state& l) {
              return l.reservation == line_reservation::committed;
            });
            if (s.status == order_status::placed && all) {
              s.status = order_status::reserved; // taken: selling
            }
          },
          [&](const sale_requested& x) {
            s.payment_attempt = x.attempt;
            s.sale = true;
            for (auto& line : s.lines) {
              line.reservation = line_reservation::committed; // taken before the sale
            }
            if (s.status == order_status::placed) {
              s.status = order_status::reserved; // taken: selling
            }
          },
          [&](const stock_commit_failed& x) { s.failed_commit_attempt = x.attempt; },
          [&](const stock_commit_refused& x) {
            set_line(s, x.sku, line_reservation::commit_refused);
          },
          [&](const order_confirmed& x) {
            if (s.taking()) {
              // Confirmed by its first sale, recorded by no event: every line was taken before.
              s.sale = true;
              for (const auto& sku : x.skus) {
                set_line(s, sku, line_reservation::committed);
              }
            }
            s.status = order_status::confirmed;
            s.settled_by_runner = s.sale && !x.skus.empty();
            // The settlement runner settles and notifies it from the journal: nothing left here,
            // unless its saga notifies it itself.
            s.saga_completed = s.saga_completed || (s.settled_by_runner && !s.notifies_itself());
          },
          [&](const order_rejected& x) {
            s.status = order_status::rejected;
            s.reason = x.reason;
          },
          [&](const order_cancelled& x) {
            // Cancelled while taking: its first sale, recorded by no event, may be on its way,
            // so it is given back as a sale (its key reversed before any stock goes back).
            s.sale = s.sale || s.taking();
            s.status = order_status::cancelled;
            s.reason = x.reason;
          },
          [&](const payment_captured&) { s.saga_completed = true; },
          [&](const compensation_completed&) { s.saga_completed = true; },
      },
      ev);
  return s;
}

bool finished(const order_state& state) {
  return state.terminal() && state.saga_completed;
}

order_state apply_all(order_state state, const std::vector<event>& events) {
  for (const auto& ev : events) {
    state = apply(std::move(state), ev);
  }
  return state;
}

// -- saga -----------------------------------------------------------------------------------------

int64_t retry_delay_ms(const saga_policy& policy, int32_t failed_attempt, double jitter_fraction) {
  auto base = policy.retry_base_ms;
  for (int32_t i = 1; i < failed_attempt && base < policy.retry_max_ms; ++i) {
    base *= 2;
  }
  base = std::min(base, policy.retry_max_ms);
  return base + static_cast<int64_t>(static_cast<double>(base) / 2 * jitter_fraction);
}

namespace {

using actions = std::vector<saga_action>;

/// One request per line not decided yet (`request(line)`), and the reservation step's timer for
/// round `round`.
template <class Request>
actions request_pending_lines(const order_state& s, const saga_policy& policy, Request request,
                              int32_t round = 1) {
  actions result;
  for (const auto& line : s.lines) {
    if (line.reservation == line_reservation::pending) {
      result.emplace_back(request(line));
    }
  }
  result.emplace_back(schedule_timeout{saga_step::reservation, round, policy.step_timeout_ms});
  return result;
}

/// The older path: reserve every pending line for reservation_ttl_ms.
actions reserve_pending_lines(const order_state& s, const saga_policy& policy) {
  return request_pending_lines(s, policy, [&](const line_state& line) {
    return reserve_stock{line.sku, line.qty, policy.reservation_ttl_ms};
  });
}

/// Take every line not decided yet (reserve and commit in one inventory step), and time it as
/// round `round`.
actions take_pending_lines(const order_state& s, const saga_policy& policy, int32_t round = 1) {
  return request_pending_lines(
      s, policy,
      [&](const line_state& line) {
        return take_stock{line.sku, line.qty, policy.step_timeout_ms};
      },
      round);
}

/// Sale attempt `attempt`, timed; `first`: the order's first payment command ever.
actions request_sale(const order_state& s, const saga_policy& policy, int32_t attempt,
                     bool first = false) {
  return {sell_payment{s.amount_cents, s.card_token, attempt, first},
          schedule_timeout{saga_step::payment, attempt, policy.step_timeout_ms}};
}

/// Whether `cmd` completes the takes of an order still taking: the first sale is its effect.
bool completes_takes(const order_state& s, const command& cmd) {
  std::vector<std::string> skus;
  if (const auto* taken = std::get_if<record_stock_taken>(&cmd)) {
    skus = taken->skus;
  } else if (const auto* one = std::get_if<record_stock_commit>(&cmd);
             one != nullptr && one->outcome == commit_outcome::committed) {
    skus = {one->sku};
  } else {
    return false;
  }
  return s.taking() && std::all_of(s.lines.begin(), s.lines.end(), [&](const line_state& l) {
           return l.reservation == line_reservation::committed ||
                  std::find(skus.begin(), skus.end(), l.sku) != skus.end();
         });
}

actions request_authorization(const order_state& s, const saga_policy& policy) {
  return {authorize_payment{s.amount_cents, s.card_token, s.payment_attempt},
          schedule_timeout{saga_step::payment, s.payment_attempt, policy.step_timeout_ms}};
}

actions schedule_retry(const order_state& s, const saga_policy& policy, const decide_context& ctx) {
  return {schedule_timeout{saga_step::payment_retry, s.failed_attempt,
                           retry_delay_ms(policy, s.failed_attempt, ctx.jitter_fraction)}};
}

/// Commit every line whose outcome is not known yet, and time the round.
actions commit_round(const order_state& s, const saga_policy& policy) {
  actions result;
  for (const auto& line : s.lines) {
    if (line.reservation == line_reservation::reserved) {
      result.emplace_back(commit_stock{line.sku, s.commit_attempt});
    }
  }
  result.emplace_back(
      schedule_timeout{saga_step::stock_commit, s.commit_attempt, policy.step_timeout_ms});
  return result;
}

actions schedule_commit_retry(const order_state& s, const saga_policy& policy,
                              const decide_context& ctx) {
  return {schedule_timeout{saga_step::stock_commit_retry, s.failed_commit_attempt,
                           retry_delay_ms(policy, s.failed_commit_attempt, ctx.jitter_fraction)}};
}

/// Release every line that is or may still become reserved, return committed units (and those
/// whose commit may have landed unseen: the inventory releases them if they are only held), and
/// give the money back. A sale is reversed first and its stock returned only after that: a sale
/// still on its way may be carried out until the reversal closes its key.
actions give_back(const order_state& s) {
  if (s.sale) {
    reverse_sale_payment reverse;
    for (const auto& line : s.lines) {
      if (line.reservation == line_reservation::committed ||
          line.reservation == line_reservation::pending) {
        reverse.then_return.push_back(return_stock{line.sku, line.qty});
      }
    }
    return {std::move(reverse)};
  }
  actions result;
  for (const auto& line : s.lines) {
    switch (line.reservation) {
      case line_reservation::pending:
        // A take (or reserve) may have landed unseen: the inventory gives back whatever the
        // order holds, and closes an order it never saw so that a late take gets nothing.
        result.emplace_back(return_stock{line.sku, line.qty});
        break;
      case line_reservation::reserved:
        if (s.authorized) { // a commit was sent
          result.emplace_back(return_stock{line.sku, line.qty});
        } else {
          result.emplace_back(release_stock{line.sku});
        }
        break;
      case line_reservation::committed:
        result.emplace_back(return_stock{line.sku, line.qty});
        break;
      case line_reservation::failed:
      case line_reservation::commit_refused:
        break; // the inventory holds nothing for it
    }
  }
  if (s.payment_attempt > 0) {
    result.emplace_back(void_or_refund_payment{});
  }
  return result;
}

actions compensate(const order_state& s) {
  auto result = give_back(s);
  result.emplace_back(notify{s.status});
  return result;
}

/// Paid and every line committed, for good: no compensation can follow a capture (an order the old
/// binary confirmed whose stock is gone gives back instead and never captures), so each line's
/// inventory may forget the order's committed quantity.
actions settle_lines(const order_state& s) {
  actions result;
  for (const auto& line : s.lines) {
    if (line.reservation == line_reservation::committed) {
      result.emplace_back(settle_stock{line.sku});
    }
  }
  return result;
}

/// A confirmed order: commit what the old binary left reserved, then take the money once every
/// line's stock is committed; if a line's stock is gone, give everything back instead.
actions fulfil(const order_state& s, const saga_policy& policy, const decide_context& ctx) {
  if (s.committing()) {
    return s.awaiting_commit_retry() ? schedule_commit_retry(s, policy, ctx)
                                     : commit_round(s, policy);
  }
  if (unsold_after_confirmation(s)) {
    return give_back(s);
  }
  if (s.settled_by_runner) {
    // The sale captured already; the settlement runner settles its stock and notifies it from
    // the journal (the same message id: one notification), and a saga that notifies itself too
    // ends once answered (record_notified).
    return s.notifies_itself() ? actions{notify{order_status::confirmed}} : actions{};
  }
  if (s.sale) {
    // Confirmed without SKUs (by the binary before the settlement runner): the saga ends once
    // every line's inventory answered its settle (record_stock_settled).
    actions result{notify{order_status::confirmed}};
    auto settles = settle_lines(s);
    result.insert(result.end(), settles.begin(), settles.end());
    return result;
  }
  return {capture_payment{}, notify{order_status::confirmed}};
}

/// A line's commit outcome was recorded: an old-binary confirmed order goes on once all are known.
actions after_line_settled(const order_state& s, const saga_policy& policy,
                           const decide_context& ctx) {
  if (s.status == order_status::confirmed && !s.committing()) {
    return fulfil(s, policy, ctx);
  }
  return {};
}

} // namespace

std::vector<saga_action> saga_decide(const order_state& state, const event& just_happened,
                                     const saga_policy& policy, const decide_context& ctx) {
  return std::visit(
      overloaded{
          [&](const order_placed&) { return take_pending_lines(state, policy); },
          [&](const stock_reserved&) { return actions{}; },
          [&](const stock_reservation_failed&) { return actions{}; },
          [&](const payment_requested&) { return request_authorization(state, policy); },
          // The first sale went out unrecorded (the takes' effect): sale_requested{1} is recorded
          // with its failure, whose reaction schedules the retry.
          [&](const sale_requested& x) {
            return x.attempt == 1 ? actions{} : request_sale(state, policy, x.attempt);
          },
          [&](const payment_authorized&) { return actions{}; },
          [&](const stock_commit_requested&) { return commit_round(state, policy); },
          [&](const stock_committed&) { return after_line_settled(state, policy, ctx); },
          [&](const stock_commit_failed&) {
            // After the last round the order_cancelled that follows compensates instead.
            auto rounds_left =
                state.terminal() || state.failed_commit_attempt < policy.max_commit_rounds;
            return state.awaiting_commit_retry() && rounds_left
                       ? schedule_commit_retry(state, policy, ctx)
                       : actions{};
          },
          [&](const stock_commit_refused&) { return after_line_settled(state, policy, ctx); },
          [&](const payment_attempt_failed&) {
            return state.awaiting_payment_retry() &&
                           state.failed_attempt < policy.max_payment_attempts
                       ? schedule_retry(state, policy, ctx)
                       : actions{};
          },
          [&](const order_confirmed&) { return fulfil(state, policy, ctx); },
          [&](const order_rejected&) { return compensate(state); },
          [&](const order_cancelled&) { return compensate(state); },
          // A sale settled its lines before (fulfil); the older path settles once captured.
          [&](const payment_captured&) { return state.sale ? actions{} : settle_lines(state); },
          [&](const compensation_completed&) { return actions{}; },
      },
      just_happened);
}

std::vector<saga_action> saga_on_sale_reversed(const order_state& state) {
  if (!state.sale || state.saga_completed ||
      (state.status != order_status::cancelled && state.status != order_status::rejected)) {
    return {};
  }
  // A sale's give_back is its reversal alone: what it returns once the sale is closed.
  actions result;
  for (auto& action : give_back(state)) {
    if (auto* reverse = std::get_if<reverse_sale_payment>(&action)) {
      result.insert(result.end(), reverse->then_return.begin(), reverse->then_return.end());
    }
  }
  return result;
}

std::vector<saga_action> saga_effects(const order_state& state, const command& cmd,
                                      const saga_policy& policy) {
  if (std::holds_alternative<record_sale_reversed>(cmd)) {
    return saga_on_sale_reversed(state);
  }
  if (const auto* timeout = std::get_if<record_timeout>(&cmd);
      timeout != nullptr && takes_again(state, *timeout)) {
    return take_pending_lines(state, policy, timeout->attempt + 1);
  }
  if (completes_takes(state, cmd)) {
    // Marked first only when every take committed now: no earlier round had any line taken,
    // so no sale was ever sent. Else the payment reads its stream first (a first sell resent
    // past the PSP's key window would charge again).
    const auto* taken = std::get_if<record_stock_taken>(&cmd);
    return request_sale(state, policy, 1, taken != nullptr && taken->took_now);
  }
  return {};
}

std::vector<saga_action> saga_resume(const order_state& state, const saga_policy& policy,
                                     const decide_context& ctx) {
  if (state.saga_completed) {
    return {};
  }
  switch (state.status) {
    case order_status::none:
      return {};
    case order_status::placed:
      return state.taking() ? take_pending_lines(state, policy)
                            : reserve_pending_lines(state, policy);
    case order_status::reserved:
      if (state.sale) {
        return state.awaiting_payment_retry() ? schedule_retry(state, policy, ctx)
                                              : request_sale(state, policy, state.payment_attempt);
      }
      if (state.committing()) {
        return state.awaiting_commit_retry() ? schedule_commit_retry(state, policy, ctx)
                                             : commit_round(state, policy);
      }
      return state.awaiting_payment_retry() ? schedule_retry(state, policy, ctx)
                                            : request_authorization(state, policy);
    case order_status::confirmed:
      return fulfil(state, policy, ctx);
    case order_status::rejected:
    case order_status::cancelled:
      return compensate(state);
  }
  return {};
}

record_reservation reservation_answer(const std::string& sku,
                                      const inventory::inventory_reply& reply) {
  const bool reserved =
      reply.recorded.empty() || reply.recorded.front() == inventory::inventory_recorded::reserved;
  return {sku, reserved, reserved ? "" : "out_of_stock"};
}

record_reservation reservation_refusal(const std::string& sku, const std::string& reason) {
  return {sku, false, reason};
}

record_stock_commit take_answer(const std::string& sku, const inventory::inventory_reply& reply) {
  const bool taken = reply.recorded.empty() ||
                     std::find(reply.recorded.begin(), reply.recorded.end(),
                               inventory::inventory_recorded::committed) != reply.recorded.end();
  return {sku, 0, taken ? commit_outcome::committed : commit_outcome::refused,
          taken ? "" : "out_of_stock"};
}

record_stock_commit take_refusal(const std::string& sku, const std::string& reason) {
  return {sku, 0, commit_outcome::refused, reason};
}

take_tally::take_tally(const std::vector<saga_action>& actions) {
  for (const auto& action : actions) {
    if (const auto* take = std::get_if<take_stock>(&action)) {
      awaited_.push_back(take->sku);
    }
  }
}

bool took_now(const inventory::inventory_reply& reply) {
  return !reply.repeated &&
         std::find(reply.recorded.begin(), reply.recorded.end(),
                   inventory::inventory_recorded::committed) != reply.recorded.end();
}

std::optional<command> take_tally::add(const record_stock_commit& answer, bool now) {
  if (reported_ || std::find(awaited_.begin(), awaited_.end(), answer.sku) == awaited_.end()) {
    return std::nullopt;
  }
  switch (answer.outcome) {
    case commit_outcome::refused:
      reported_ = true;
      return command{answer};
    case commit_outcome::committed:
      if (std::find(taken_.begin(), taken_.end(), answer.sku) == taken_.end()) {
        taken_.push_back(answer.sku);
        all_now_ = all_now_ && now;
      }
      if (taken_.size() == awaited_.size()) {
        reported_ = true;
        return command{record_stock_taken{taken_, all_now_}};
      }
      return std::nullopt;
    case commit_outcome::failed:
      break;
  }
  return std::nullopt;
}

record_stock_commit commit_refusal(const std::string& sku, int32_t attempt,
                                   inventory::inventory_errc code, const std::string& reason) {
  return {sku, attempt, commit_outcome::refused, inventory::to_string(code) + ": " + reason};
}

std::optional<record_authorization> authorization_answer(const payment::payment_summary& summary) {
  if (summary.authorized_attempt <= 0) {
    return std::nullopt;
  }
  return record_authorization{summary.authorized_attempt, payment_outcome::authorized, "",
                              summary.psp_reference};
}

std::optional<record_capture> capture_answer(const payment::payment_summary& summary) {
  if (!summary.capture_confirmed || !summary.settled) {
    return std::nullopt;
  }
  return record_capture{true};
}

bool void_done(const payment::payment_summary& summary) {
  return summary.settled;
}

bool sale_closed(const payment::payment_summary& summary) {
  using actors::payment::payment_status;
  return summary.status == payment_status::declined || summary.status == payment_status::voided ||
         summary.status == payment_status::refunded;
}

} // namespace ordermesh::actors::order
