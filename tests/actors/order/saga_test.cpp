#define BOOST_TEST_MODULE order_saga
#include <boost/test/unit_test.hpp>

#include "actors/order/state.hpp"

#include <algorithm>
#include <vector>

using namespace ordermesh::actors;
using namespace ordermesh::actors::order;

namespace {

const decide_context ctx{1'700'000'000'000'000, 0.5};
const saga_policy policy{}; // 3 attempts, 2000 ms steps, 100 ms base backoff, 60 s reservations

using actions = std::vector<saga_action>;

/// An order actor without the actor: decides, records, and collects what the saga sends (its
/// events' reactions, then the command's effects, as the runtime does).
struct order_under_test {
  order_state state;
  std::vector<event> journal;

  actions handle(const command& cmd) {
    auto d = decide(state, cmd, ctx, policy);
    BOOST_REQUIRE_MESSAGE(d.accepted(), "rejected: " << d.rejected->reason);
    actions sent;
    for (const auto& ev : d.events) {
      state = apply(std::move(state), ev);
      journal.push_back(ev);
      auto more = saga_decide(state, ev, policy, ctx);
      sent.insert(sent.end(), more.begin(), more.end());
    }
    auto effects = saga_effects(state, cmd, policy);
    sent.insert(sent.end(), effects.begin(), effects.end());
    return sent;
  }

  int terminal_events() const {
    int n = 0;
    for (const auto& ev : journal) {
      n += std::holds_alternative<order_confirmed>(ev) +
           std::holds_alternative<order_rejected>(ev) + std::holds_alternative<order_cancelled>(ev);
    }
    return n;
  }
};

place_order two_lines() {
  return place_order{"o1", "c1", {{"apple", 2}, {"pear", 1}}, {"tok", 1250}};
}

const actions reserve_both{reserve_stock{"apple", 2, 60'000}, reserve_stock{"pear", 1, 60'000},
                           schedule_timeout{saga_step::reservation, 1, 2000}};

actions authorize(int32_t attempt) {
  return {authorize_payment{1250, "tok", attempt},
          schedule_timeout{saga_step::payment, attempt, 2000}};
}

actions commit_both(int32_t attempt) {
  return {commit_stock{"apple", attempt}, commit_stock{"pear", attempt},
          schedule_timeout{saga_step::stock_commit, attempt, 2000}};
}

const actions capture_and_notify{capture_payment{}, notify{order_status::confirmed}};

record_stock_commit commit_answer(const std::string& sku, commit_outcome outcome,
                                  int32_t attempt = 1) {
  return record_stock_commit{sku, attempt, outcome, "r"};
}

/// Given: an order with both lines reserved and authorization attempt 1 sent.
order_under_test reserved_order() {
  order_under_test o;
  o.handle(two_lines());
  o.handle(record_reservation{"apple", true, ""});
  o.handle(record_reservation{"pear", true, ""});
  return o;
}

} // namespace

const actions take_both{take_stock{"apple", 2, 2000}, take_stock{"pear", 1, 2000},
                        schedule_timeout{saga_step::reservation, 1, 2000}};

/// `first`: the order's first payment command (the effect of every line taken, some take
/// committed now), which the payment carries out without reading its stream; resends and later
/// attempts are not.
actions sell(int32_t attempt, bool first = false) {
  return {sell_payment{1250, "tok", attempt, first},
          schedule_timeout{saga_step::payment, attempt, 2000}};
}

record_stock_commit taken(const std::string& sku) {
  return record_stock_commit{sku, 0, commit_outcome::committed, ""};
}

/// Both lines taken; `now`: every take committed its units in this round (took_now).
record_stock_taken both_taken(bool now = true) {
  return record_stock_taken{{"apple", "pear"}, now};
}

BOOST_AUTO_TEST_CASE(the_happy_path_takes_every_line_then_sells_once_and_confirms) {
  order_under_test o;
  auto takes = o.handle(two_lines());
  BOOST_CHECK(takes == take_both);
  // The answers to the takes are gathered: no event per line, one sale request after the last.
  take_tally tally{takes};
  BOOST_CHECK(!tally.add(taken("apple"), true));
  auto all_taken = tally.add(taken("pear"), true);
  BOOST_REQUIRE(all_taken.has_value());
  // The sale is the takes' effect: nothing recorded, the order stays placed.
  BOOST_CHECK(o.handle(*all_taken) == sell(1, true));
  BOOST_TEST(o.journal.size() == 1u);
  BOOST_CHECK(o.state.status == order_status::placed);
  // Confirmed and paid for good: the confirmation names the committed SKUs, and the settlement
  // runner settles and notifies it from the journal; the saga sends nothing more.
  BOOST_CHECK(o.handle(record_authorization{1, payment_outcome::authorized, "", "auth_1"}).empty());
  BOOST_CHECK((o.journal.back() == event{order_confirmed{{"apple", "pear"}}}));
  BOOST_CHECK(o.state.status == order_status::confirmed);
  // Its saga ends with the confirmation: the entity ends right after that commit.
  BOOST_CHECK(finished(o.state));
  BOOST_CHECK(saga_resume(o.state, policy, ctx).empty());
  BOOST_TEST(o.journal.size() == 2u); // placed, confirmed
  BOOST_TEST(o.terminal_events() == 1);
}

// Every take was answered committed, but the order's record of it (record_stock_taken, sent to
// itself) was lost: its append answered journal_unavailable, say, and nobody sends it again. The
// reservation timer must not cancel an order whose stock is taken: it asks again first.
BOOST_AUTO_TEST_CASE(a_lost_record_of_taken_stock_makes_the_order_ask_again_instead_of_cancelling) {
  order_under_test o;
  o.handle(two_lines());
  // It takes every line again (the inventory answers a repeat the same), timed as round 2.
  BOOST_CHECK(o.handle(record_timeout{saga_step::reservation, 1}) ==
              (actions{take_stock{"apple", 2, 2000}, take_stock{"pear", 1, 2000},
                       schedule_timeout{saga_step::reservation, 2, 2000}}));
  BOOST_CHECK(o.state.status == order_status::placed);
  BOOST_TEST(o.terminal_events() == 0);
  // Every take a repeat: the sale goes out unmarked (the payment reads its stream first).
  BOOST_CHECK(o.handle(both_taken(false)) == sell(1));
  // Its outcome confirms the order; the second round's timer then changes nothing.
  o.handle(record_authorization{1, payment_outcome::authorized, "", "auth_1"});
  BOOST_CHECK(o.handle(record_timeout{saga_step::reservation, 2}).empty());
  BOOST_TEST(o.terminal_events() == 1);
}

// A batch whose takes did not all commit their units now (some were repeats of an earlier round,
// which may have had every line taken and sent a sale already) reports took_now false: its sale
// is not marked first, and the payment reads its stream. Round 1 takes apple now while pear is
// slow; round 2 repeats apple and takes pear now, and sells; round 1's pear then arrives as a
// repeat: neither batch may mark its sale first.
BOOST_AUTO_TEST_CASE(a_batch_with_a_repeated_take_does_not_mark_its_sale_first) {
  order_under_test o;
  auto round_1 = o.handle(two_lines());
  take_tally first_round{round_1};
  BOOST_CHECK(!first_round.add(taken("apple"), true));
  auto round_2 = o.handle(record_timeout{saga_step::reservation, 1});
  take_tally second_round{round_2};
  BOOST_CHECK(!second_round.add(taken("apple"), false));
  auto second = second_round.add(taken("pear"), true);
  BOOST_REQUIRE(second.has_value());
  BOOST_CHECK(!std::get<record_stock_taken>(*second).took_now);
  auto late = first_round.add(taken("pear"), false);
  BOOST_REQUIRE(late.has_value());
  BOOST_CHECK(!std::get<record_stock_taken>(*late).took_now);
  // Only a batch whose every take committed now marks the sale first.
  take_tally fresh{round_1};
  BOOST_CHECK(!fresh.add(taken("apple"), true));
  auto all_now = fresh.add(taken("pear"), true);
  BOOST_REQUIRE(all_now.has_value());
  BOOST_CHECK(std::get<record_stock_taken>(*all_now).took_now);
}

// The sale is recorded by no event: while it is on its way the order is "placed" in its journal,
// and its reservation timer (round 2) may cancel it. The sale's key is then reversed before the
// stock goes back, so that a sale landing late cannot charge an order that gave its stock back.
BOOST_AUTO_TEST_CASE(a_reservation_timeout_while_the_unrecorded_sale_is_on_its_way_reverses_it) {
  order_under_test o;
  o.handle(two_lines());
  o.handle(record_timeout{saga_step::reservation, 1});
  BOOST_CHECK(o.handle(both_taken(false)) == sell(1));
  auto sent = o.handle(record_timeout{saga_step::reservation, 2});
  BOOST_CHECK(o.state.status == order_status::cancelled);
  BOOST_CHECK(sent ==
              (actions{reverse_sale_payment{{return_stock{"apple", 2}, return_stock{"pear", 1}}},
                       notify{order_status::cancelled}}));
  // The sale's late success changes nothing: the reversal refunds it.
  BOOST_CHECK(o.handle(record_authorization{1, payment_outcome::authorized, "", "a"}).empty());
  BOOST_CHECK(saga_on_sale_reversed(o.state) ==
              (actions{return_stock{"apple", 2}, return_stock{"pear", 1}}));
  BOOST_TEST(o.terminal_events() == 1);
}

// A crash after every take answered, before or after the sale left: nothing of the sale is
// recorded, so the order recovers placed, takes again (every take a repeat) and sells again
// under the same key, unmarked: the payment reads its stream, and reports a sale it holds.
BOOST_AUTO_TEST_CASE(an_order_recovered_between_its_takes_and_its_sale_takes_and_sells_again) {
  order_under_test o;
  o.handle(two_lines());
  BOOST_CHECK(o.handle(both_taken()) == sell(1, true));
  auto recovered = apply_all(order_state{}, o.journal);
  BOOST_CHECK(recovered == o.state);
  BOOST_CHECK(saga_resume(recovered, policy, ctx) == take_both);
  BOOST_CHECK(o.handle(both_taken(false)) == sell(1));
  o.handle(record_authorization{1, payment_outcome::authorized, "", "auth_1"});
  BOOST_CHECK(o.state.status == order_status::confirmed);
  BOOST_TEST(o.terminal_events() == 1);
}

BOOST_AUTO_TEST_CASE(takes_unanswered_in_a_second_round_cancel_the_order) {
  order_under_test o;
  o.handle(two_lines());
  o.handle(record_timeout{saga_step::reservation, 1});
  // Cancelled, and every line given back: a take still queued is dropped at its deadline, and a
  // return closes the order at an inventory that never saw it.
  o.handle(record_timeout{saga_step::reservation, 2});
  BOOST_CHECK(o.state.status == order_status::cancelled);
  BOOST_CHECK(saga_effects(o.state, record_timeout{saga_step::reservation, 2}, policy).empty());
  BOOST_TEST(o.terminal_events() == 1);
}

BOOST_AUTO_TEST_CASE(the_older_path_cancels_at_its_first_reservation_timeout) {
  order_under_test o;
  o.handle(two_lines()); // placed by the older binary, which reserved its lines
  o.handle(record_reservation{"apple", true, ""});
  BOOST_CHECK(saga_effects(o.state, record_timeout{saga_step::reservation, 1}, policy).empty());
  o.handle(record_timeout{saga_step::reservation, 1});
  BOOST_CHECK(o.state.status == order_status::cancelled);
}

// The binary before this one ended a sale confirmed with SKUs only once its notification answered
// (record_notified -> payment_captured), and its settlement runner saved its checkpoint after the
// settles alone: one it left with that answer outstanding may lie behind the runner's checkpoint,
// so the runner never reads it again. Such an order (a sale request recorded before its
// confirmation) notifies itself and ends once answered, as it did; one confirmed straight from
// placed (this binary's first sale) ends at its confirmation.
BOOST_AUTO_TEST_CASE(a_sale_confirmed_after_a_recorded_sale_request_notifies_itself_and_ends) {
  auto confirmed =
      apply_all(order_state{}, {order_placed{"o1", "c1", {{"apple", 2}, {"pear", 1}}, "tok", 1250},
                                sale_requested{1}, order_confirmed{{"apple", "pear"}}});
  BOOST_CHECK(!finished(confirmed));
  BOOST_CHECK(saga_resume(confirmed, policy, ctx) == (actions{notify{order_status::confirmed}}));
  auto answered = decide(confirmed, record_notified{}, ctx, policy);
  BOOST_REQUIRE(answered.accepted());
  BOOST_CHECK(answered.events == (std::vector<event>{payment_captured{}}));
  auto ended = apply_all(confirmed, answered.events);
  BOOST_CHECK(finished(ended));
  BOOST_CHECK(saga_resume(ended, policy, ctx).empty());
  // A repeated answer records nothing.
  auto again = decide(ended, record_notified{}, ctx, policy);
  BOOST_CHECK(again.accepted() && again.events.empty());
  // Its snapshot, taken by the older binary before the saga was done, says the same.
  auto snapshot = confirmed;
  snapshot.saga_completed = false;
  BOOST_CHECK(!finished(snapshot));
  BOOST_CHECK(saga_resume(snapshot, policy, ctx) == (actions{notify{order_status::confirmed}}));
  // Confirmed straight from placed: finished at once, and a stray answer records nothing.
  auto straight = apply_all(order_state{}, {order_placed{"o2", "c1", {{"apple", 2}}, "tok", 500},
                                            order_confirmed{{"apple"}}});
  BOOST_CHECK(finished(straight));
  BOOST_CHECK(saga_resume(straight, policy, ctx).empty());
  auto stray = decide(straight, record_notified{}, ctx, policy);
  BOOST_CHECK(stray.accepted() && stray.events.empty());
}

// An order the old binary confirmed as a sale recorded no SKUs: no settlement runner settles it,
// so its saga still settles every line and ends once they answered.
BOOST_AUTO_TEST_CASE(a_sale_confirmed_without_skus_still_settles_its_lines) {
  auto confirmed =
      apply_all(order_state{}, {order_placed{"o1", "c1", {{"apple", 2}, {"pear", 1}}, "tok", 1250},
                                stock_committed{"apple"}, stock_committed{"pear"},
                                sale_requested{1}, order_confirmed{}});
  BOOST_CHECK(
      saga_resume(confirmed, policy, ctx) ==
      (actions{notify{order_status::confirmed}, settle_stock{"apple"}, settle_stock{"pear"}}));
  BOOST_CHECK(saga_decide(confirmed, order_confirmed{}, policy, ctx) ==
              saga_resume(confirmed, policy, ctx));
  // The notification's answer does not end it; the settles' answers do.
  BOOST_CHECK(!decide(confirmed, record_notified{}, ctx, policy).accepted());
  auto d = decide(confirmed, record_stock_settled{}, ctx, policy);
  BOOST_CHECK(d.accepted() && d.events == std::vector<event>{payment_captured{}});
}

BOOST_AUTO_TEST_CASE(a_line_out_of_stock_rejects_the_order_and_gives_back_every_other_line) {
  order_under_test o;
  o.handle(two_lines());
  auto sent = o.handle(record_stock_commit{"pear", 0, commit_outcome::refused, "out_of_stock"});
  BOOST_CHECK(sent == (actions{return_stock{"apple", 2}, notify{order_status::rejected}}));
  BOOST_CHECK(o.state.status == order_status::rejected);
}

BOOST_AUTO_TEST_CASE(a_take_still_unanswered_is_given_back_too_when_the_order_is_rejected) {
  order_under_test o;
  o.handle(two_lines());
  auto sent = o.handle(record_stock_commit{"apple", 0, commit_outcome::refused, "out_of_stock"});
  BOOST_CHECK(sent == (actions{return_stock{"pear", 1}, notify{order_status::rejected}}));
}

BOOST_AUTO_TEST_CASE(a_declined_sale_cancels_gives_every_line_back_and_closes_the_sale) {
  order_under_test o;
  o.handle(two_lines());
  o.handle(both_taken());
  auto sent =
      o.handle(record_authorization{1, payment_outcome::declined, "insufficient_funds", ""});
  // The stock goes back only once the sale is closed: until then a sale may still land.
  BOOST_CHECK(sent ==
              (actions{reverse_sale_payment{{return_stock{"apple", 2}, return_stock{"pear", 1}}},
                       notify{order_status::cancelled}}));
  BOOST_CHECK(o.handle(record_compensated{}).empty());
  BOOST_CHECK(o.state.saga_completed);
  BOOST_TEST(o.terminal_events() == 1);
}

BOOST_AUTO_TEST_CASE(a_sale_without_an_answer_is_resent_with_the_same_key_then_reversed) {
  order_under_test o;
  o.handle(two_lines());
  o.handle(both_taken());
  for (int32_t attempt = 1; attempt < policy.max_payment_attempts; ++attempt) {
    auto retry = o.handle(record_timeout{saga_step::payment, attempt});
    BOOST_REQUIRE(retry.size() == 1u);
    BOOST_CHECK(o.handle(record_timeout{saga_step::payment_retry, attempt}) == sell(attempt + 1));
    BOOST_CHECK(o.journal.back() == event{sale_requested{attempt + 1}});
  }
  auto sent = o.handle(record_timeout{saga_step::payment, policy.max_payment_attempts});
  // The stock goes back only once the sale is closed: until then a sale may still land.
  BOOST_CHECK(sent ==
              (actions{reverse_sale_payment{{return_stock{"apple", 2}, return_stock{"pear", 1}}},
                       notify{order_status::cancelled}}));
  // A late success of any attempt changes nothing: the reversal refunds it.
  BOOST_CHECK(o.handle(record_authorization{1, payment_outcome::authorized, "", "auth_1"}).empty());
  BOOST_TEST(o.terminal_events() == 1);
}

BOOST_AUTO_TEST_CASE(
    the_payments_report_of_the_reversal_gives_a_cancelled_sales_stock_back_at_once) {
  order_under_test o;
  o.handle(two_lines());
  o.handle(both_taken());
  BOOST_CHECK(saga_on_sale_reversed(o.state).empty()); // selling: nothing to give back
  for (int32_t attempt = 1; attempt <= policy.max_payment_attempts; ++attempt) {
    o.handle(record_authorization{attempt, payment_outcome::failed, "503", ""});
    o.handle(record_timeout{saga_step::payment_retry, attempt});
  }
  BOOST_REQUIRE(o.state.status == order_status::cancelled);
  // Recorded nothing; its effect returns every line the sale was for.
  auto d = decide(o.state, record_sale_reversed{}, ctx, policy);
  BOOST_CHECK(d.accepted() && d.events.empty());
  BOOST_CHECK(saga_on_sale_reversed(o.state) ==
              (actions{return_stock{"apple", 2}, return_stock{"pear", 1}}));
  o.handle(record_compensated{});
  BOOST_CHECK(saga_on_sale_reversed(o.state).empty()); // done: a late report sends nothing
}

BOOST_AUTO_TEST_CASE(a_sale_answer_from_an_earlier_attempt_confirms_the_order) {
  order_under_test o;
  o.handle(two_lines());
  o.handle(both_taken());
  o.handle(record_timeout{saga_step::payment, 1});
  // Confirmed and paid for good: the settlement runner settles and notifies it from the journal;
  // with its sale request recorded (the timeout recorded it), the saga notifies it too and ends
  // once answered.
  BOOST_CHECK(o.handle(record_authorization{1, payment_outcome::authorized, "", "auth_1"}) ==
              (actions{notify{order_status::confirmed}}));
  BOOST_CHECK(o.state.status == order_status::confirmed);
  BOOST_CHECK(!finished(o.state));
  o.handle(record_notified{});
  BOOST_CHECK(finished(o.state));
}

BOOST_AUTO_TEST_CASE(
    resuming_the_current_path_from_every_recorded_step_resends_what_is_outstanding) {
  order_under_test o;
  o.handle(two_lines());
  BOOST_CHECK(saga_resume(o.state, policy, ctx) == take_both);
  o.handle(both_taken());
  BOOST_CHECK(saga_resume(o.state, policy, ctx) == take_both); // the sale is not recorded
  o.handle(record_authorization{1, payment_outcome::failed, "503", ""});
  BOOST_CHECK(saga_resume(o.state, policy, ctx) ==
              (actions{schedule_timeout{saga_step::payment_retry, 1, 125}}));
  o.handle(record_timeout{saga_step::payment_retry, 1});
  BOOST_CHECK(saga_resume(o.state, policy, ctx) == sell(2));
  o.handle(record_authorization{2, payment_outcome::authorized, "", "auth_1"});
  BOOST_CHECK(saga_resume(o.state, policy, ctx) == (actions{notify{order_status::confirmed}}));
  o.handle(record_notified{});
  BOOST_CHECK(saga_resume(o.state, policy, ctx).empty());
}

BOOST_AUTO_TEST_CASE(an_order_the_older_binary_placed_takes_its_stock_unless_a_line_is_reserved) {
  auto placed_only = apply_all(
      order_state{}, {order_placed{"o1", "c1", {{"apple", 2}, {"pear", 1}}, "tok", 1250}});
  BOOST_CHECK(saga_resume(placed_only, policy, ctx) == take_both);
  auto one_reserved = apply(placed_only, stock_reserved{"apple"});
  BOOST_CHECK(saga_resume(one_reserved, policy, ctx) ==
              (actions{reserve_stock{"pear", 1, 60'000},
                       schedule_timeout{saga_step::reservation, 1, 2000}}));
}

BOOST_AUTO_TEST_CASE(the_older_path_reserves_authorizes_commits_captures_and_confirms) {
  order_under_test o;
  o.handle(two_lines()); // placed by the older binary, which reserved its lines
  BOOST_CHECK(o.handle(record_reservation{"apple", true, ""}).empty());
  BOOST_CHECK(o.handle(record_reservation{"pear", true, ""}) == authorize(1));
  BOOST_CHECK(o.handle(record_authorization{1, payment_outcome::authorized, "", "psp-1"}) ==
              commit_both(1));
  BOOST_CHECK(o.handle(commit_answer("apple", commit_outcome::committed)).empty());
  BOOST_CHECK(o.handle(commit_answer("pear", commit_outcome::committed)) == capture_and_notify);
  BOOST_CHECK(o.handle(record_capture{true}) ==
              (actions{settle_stock{"apple"}, settle_stock{"pear"}}));
  BOOST_CHECK(o.state.status == order_status::confirmed);
  BOOST_CHECK(o.state.saga_completed);
  BOOST_TEST(o.terminal_events() == 1);
}

BOOST_AUTO_TEST_CASE(out_of_stock_on_the_second_line_releases_the_first) {
  order_under_test o;
  o.handle(two_lines());
  o.handle(record_reservation{"apple", true, ""});
  auto sent = o.handle(record_reservation{"pear", false, "out_of_stock"});
  BOOST_CHECK(sent == (actions{release_stock{"apple"}, notify{order_status::rejected}}));
  BOOST_CHECK(o.state.status == order_status::rejected);
  BOOST_CHECK(o.handle(record_reservation{"apple", true, ""}).empty());
  BOOST_TEST(o.terminal_events() == 1);
}

BOOST_AUTO_TEST_CASE(out_of_stock_while_another_line_is_pending_gives_that_one_back_too) {
  order_under_test o;
  o.handle(two_lines());
  auto sent = o.handle(record_reservation{"apple", false, "out_of_stock"});
  // Whatever the inventory holds for it (reserved, committed, or nothing yet: then it is closed).
  BOOST_CHECK(sent == (actions{return_stock{"pear", 1}, notify{order_status::rejected}}));
}

BOOST_AUTO_TEST_CASE(a_declined_payment_cancels_releases_everything_and_voids) {
  auto o = reserved_order();
  auto sent = o.handle(record_authorization{1, payment_outcome::declined, "stolen card", ""});
  BOOST_CHECK(sent == (actions{release_stock{"apple"}, release_stock{"pear"},
                               void_or_refund_payment{}, notify{order_status::cancelled}}));
  BOOST_CHECK(o.state.status == order_status::cancelled);
  BOOST_CHECK(o.handle(record_compensated{}).empty());
  BOOST_CHECK(o.state.saga_completed);
}

BOOST_AUTO_TEST_CASE(a_psp_failure_is_retried_after_a_backoff_and_then_succeeds) {
  auto o = reserved_order();
  auto sent = o.handle(record_authorization{1, payment_outcome::failed, "503", ""});
  // 100 ms base for the first retry, plus half of it times the 0.5 jitter draw.
  BOOST_CHECK(sent == (actions{schedule_timeout{saga_step::payment_retry, 1, 125}}));
  BOOST_CHECK(o.handle(record_timeout{saga_step::payment_retry, 1}) == authorize(2));
  BOOST_CHECK(o.handle(record_authorization{2, payment_outcome::authorized, "", "psp-2"}) ==
              commit_both(1));
  BOOST_TEST(o.terminal_events() == 0);
}

BOOST_AUTO_TEST_CASE(an_authorization_timeout_is_retried_like_a_failure) {
  auto o = reserved_order();
  auto sent = o.handle(record_timeout{saga_step::payment, 1});
  BOOST_CHECK(sent == (actions{schedule_timeout{saga_step::payment_retry, 1, 125}}));
}

BOOST_AUTO_TEST_CASE(exhausted_retries_cancel_the_order_and_release_everything) {
  auto o = reserved_order();
  o.handle(record_authorization{1, payment_outcome::failed, "503", ""});
  o.handle(record_timeout{saga_step::payment_retry, 1});
  BOOST_CHECK(o.handle(record_timeout{saga_step::payment, 2}) ==
              (actions{schedule_timeout{saga_step::payment_retry, 2, 250}}));
  o.handle(record_timeout{saga_step::payment_retry, 2});
  auto sent = o.handle(record_authorization{3, payment_outcome::failed, "503", ""});
  BOOST_CHECK(sent == (actions{release_stock{"apple"}, release_stock{"pear"},
                               void_or_refund_payment{}, notify{order_status::cancelled}}));
  BOOST_CHECK(o.state.status == order_status::cancelled);
  BOOST_CHECK(o.handle(record_timeout{saga_step::payment_retry, 3}).empty());
  BOOST_TEST(o.terminal_events() == 1);
}

BOOST_AUTO_TEST_CASE(backoff_doubles_per_attempt_up_to_the_cap_plus_jitter) {
  saga_policy p;
  p.retry_base_ms = 100;
  p.retry_max_ms = 1000;
  BOOST_TEST(retry_delay_ms(p, 1, 0.0) == 100);
  BOOST_TEST(retry_delay_ms(p, 2, 0.0) == 200);
  BOOST_TEST(retry_delay_ms(p, 3, 0.0) == 400);
  BOOST_TEST(retry_delay_ms(p, 5, 0.0) == 1000);
  BOOST_TEST(retry_delay_ms(p, 60, 0.0) == 1000);
  BOOST_TEST(retry_delay_ms(p, 1, 0.999) == 149);
  BOOST_TEST(retry_delay_ms(p, 60, 0.5) == 1250);
}

BOOST_AUTO_TEST_CASE(resuming_from_every_recorded_step_resends_what_is_outstanding) {
  const order_placed placed{"o1", "c1", {{"apple", 2}, {"pear", 1}}, "tok", 1250};
  struct step {
    std::vector<event> journal;
    actions expected;
  };
  std::vector<event> reserved{placed, stock_reserved{"apple"}, stock_reserved{"pear"},
                              payment_requested{1}};
  auto with = [](std::vector<event> xs, std::vector<event> more) {
    xs.insert(xs.end(), more.begin(), more.end());
    return xs;
  };
  auto failed_once = with(reserved, {payment_attempt_failed{1, "503"}});
  auto retrying = with(failed_once, {payment_requested{2}});
  auto committing = with(retrying, {payment_authorized{"psp"}, stock_commit_requested{1}});
  auto commit_failed =
      with(committing, {stock_committed{"apple"}, stock_commit_failed{1, "timed out"}});
  auto commit_retrying = with(commit_failed, {stock_commit_requested{2}});
  auto confirmed = with(commit_retrying, {stock_committed{"pear"}, order_confirmed{}});
  auto commit_refused = with(commit_retrying, {stock_commit_refused{"pear", "reservation_expired"},
                                               order_cancelled{"stock no longer held for pear"}});
  std::vector<event> rejected{placed, stock_reserved{"apple"},
                              stock_reservation_failed{"pear", "out_of_stock"},
                              order_rejected{"no pears"}};
  auto cancelled = with(reserved, {order_cancelled{"declined"}});
  const std::vector<step> steps{
      {{}, {}},
      {{placed}, take_both}, // the current path, unless a line is reserved
      {{placed, stock_reserved{"apple"}},
       {reserve_stock{"pear", 1, 60'000}, schedule_timeout{saga_step::reservation, 1, 2000}}},
      {reserved, authorize(1)},
      {failed_once, {schedule_timeout{saga_step::payment_retry, 1, 125}}},
      {retrying, authorize(2)},
      {committing, commit_both(1)},
      {commit_failed, {schedule_timeout{saga_step::stock_commit_retry, 1, 125}}},
      {commit_retrying,
       {commit_stock{"pear", 2}, schedule_timeout{saga_step::stock_commit, 2, 2000}}},
      {confirmed, capture_and_notify},
      {with(confirmed, {payment_captured{}}), {}},
      {rejected, {release_stock{"apple"}, notify{order_status::rejected}}},
      {with(rejected, {compensation_completed{}}), {}},
      {cancelled,
       {release_stock{"apple"}, release_stock{"pear"}, void_or_refund_payment{},
        notify{order_status::cancelled}}},
      {with(cancelled, {compensation_completed{}}), {}},
      {commit_refused,
       {return_stock{"apple", 2}, void_or_refund_payment{}, notify{order_status::cancelled}}},
  };
  for (size_t i = 0; i < steps.size(); ++i) {
    auto recovered = apply_all(order_state{}, steps[i].journal);
    BOOST_CHECK_MESSAGE(saga_resume(recovered, policy, ctx) == steps[i].expected, "step " << i);
  }
}

BOOST_AUTO_TEST_CASE(an_authorized_order_commits_its_stock_before_it_captures_or_confirms) {
  auto o = reserved_order();
  auto sent = o.handle(record_authorization{1, payment_outcome::authorized, "", "psp-1"});
  for (const auto& a : sent) {
    BOOST_CHECK_MESSAGE(!std::holds_alternative<capture_payment>(a),
                        "capture sent before the stock is committed");
  }
  BOOST_CHECK(o.state.status != order_status::confirmed);
  BOOST_TEST(o.terminal_events() == 0);
}

BOOST_AUTO_TEST_CASE(
    a_commit_refused_because_the_reservation_expired_never_captures_and_compensates) {
  auto o = reserved_order();
  o.handle(record_authorization{1, payment_outcome::authorized, "", "psp-1"});
  BOOST_CHECK(o.handle(commit_answer("apple", commit_outcome::committed)).empty());
  auto sent = o.handle(commit_answer("pear", commit_outcome::refused));
  // The committed apples go back to the stock, the expired pears hold nothing, the hold is voided.
  BOOST_CHECK(sent == (actions{return_stock{"apple", 2}, void_or_refund_payment{},
                               notify{order_status::cancelled}}));
  BOOST_CHECK(o.state.status == order_status::cancelled);
  BOOST_TEST(o.terminal_events() == 1);
  BOOST_CHECK(o.handle(record_compensated{}).empty());
  BOOST_CHECK(o.state.saga_completed);
}

BOOST_AUTO_TEST_CASE(a_failed_or_timed_out_commit_is_retried_after_a_backoff_until_it_is_decided) {
  auto o = reserved_order();
  o.handle(record_authorization{1, payment_outcome::authorized, "", "psp-1"});
  o.handle(commit_answer("apple", commit_outcome::committed));
  BOOST_CHECK(o.handle(commit_answer("pear", commit_outcome::failed)) ==
              (actions{schedule_timeout{saga_step::stock_commit_retry, 1, 125}}));
  BOOST_CHECK(o.handle(record_timeout{saga_step::stock_commit, 1}).empty());
  BOOST_CHECK(
      o.handle(record_timeout{saga_step::stock_commit_retry, 1}) ==
      (actions{commit_stock{"pear", 2}, schedule_timeout{saga_step::stock_commit, 2, 2000}}));
  // Commits are retried past any payment budget: only the inventory's decision ends the step.
  for (int32_t round = 2; round <= 6; ++round) {
    BOOST_CHECK(!o.handle(record_timeout{saga_step::stock_commit, round}).empty());
    BOOST_CHECK(o.handle(record_timeout{saga_step::stock_commit_retry, round}) ==
                (actions{commit_stock{"pear", round + 1},
                         schedule_timeout{saga_step::stock_commit, round + 1, 2000}}));
  }
  BOOST_TEST(o.terminal_events() == 0);
  BOOST_CHECK(o.handle(commit_answer("pear", commit_outcome::committed, 7)) == capture_and_notify);
  BOOST_TEST(o.terminal_events() == 1);
}

namespace {

/// The journal of an order the old binary confirmed: it recorded the authorization and the
/// confirmation together and sent commit_stock from fulfil, so its lines are still reserved.
const std::vector<event> confirmed_by_the_old_binary{
    order_placed{"o1", "c1", {{"apple", 2}, {"pear", 1}}, "tok", 1250},
    stock_reserved{"apple"},
    stock_reserved{"pear"},
    payment_requested{1},
    payment_authorized{"psp-1"},
    order_confirmed{}};

order_under_test recovered(const std::vector<event>& journal) {
  order_under_test o;
  o.state = apply_all(order_state{}, journal);
  o.journal = journal;
  return o;
}

bool captures(const actions& sent) {
  return std::any_of(sent.begin(), sent.end(), [](const saga_action& a) {
    return std::holds_alternative<capture_payment>(a);
  });
}

} // namespace

BOOST_AUTO_TEST_CASE(
    an_order_confirmed_by_the_old_binary_commits_its_reserved_lines_before_capturing) {
  auto o = recovered(confirmed_by_the_old_binary);
  auto resumed = saga_resume(o.state, policy, ctx);
  BOOST_CHECK_MESSAGE(!captures(resumed), "captured before the reserved lines were committed");
  BOOST_CHECK(resumed == (actions{schedule_timeout{saga_step::stock_commit_retry, 0, 125}}));
  BOOST_CHECK(o.handle(record_timeout{saga_step::stock_commit_retry, 0}) == commit_both(1));
  BOOST_CHECK(o.handle(commit_answer("apple", commit_outcome::committed)).empty());
  BOOST_CHECK(o.handle(commit_answer("pear", commit_outcome::committed)) == capture_and_notify);
  BOOST_TEST(o.terminal_events() == 1);
  BOOST_CHECK(saga_resume(o.state, policy, ctx) == capture_and_notify);
  o.handle(record_capture{true});
  BOOST_CHECK(o.state.saga_completed);
}

BOOST_AUTO_TEST_CASE(an_order_confirmed_by_the_old_binary_whose_stock_is_gone_is_never_captured) {
  auto o = recovered(confirmed_by_the_old_binary);
  o.handle(record_timeout{saga_step::stock_commit_retry, 0});
  o.handle(commit_answer("apple", commit_outcome::committed));
  auto sent = o.handle(commit_answer("pear", commit_outcome::refused));
  BOOST_CHECK(sent == (actions{return_stock{"apple", 2}, void_or_refund_payment{}}));
  BOOST_TEST(o.terminal_events() == 1);
  BOOST_CHECK(saga_resume(o.state, policy, ctx) == sent);
  BOOST_CHECK(o.handle(record_compensated{}).empty());
  BOOST_CHECK(o.state.saga_completed);
  BOOST_CHECK(saga_resume(o.state, policy, ctx).empty());
}

BOOST_AUTO_TEST_CASE(
    a_commit_still_undecided_after_the_last_round_cancels_and_gives_back_every_line) {
  auto o = reserved_order();
  o.handle(record_authorization{1, payment_outcome::authorized, "", "psp-1"});
  o.handle(commit_answer("apple", commit_outcome::committed));
  actions last;
  for (int32_t round = 1; round <= policy.max_commit_rounds; ++round) {
    BOOST_REQUIRE(o.state.status == order_status::reserved);
    last = o.handle(record_timeout{saga_step::stock_commit, round});
    if (round < policy.max_commit_rounds) {
      o.handle(record_timeout{saga_step::stock_commit_retry, round});
    }
  }
  BOOST_CHECK(o.state.status == order_status::cancelled);
  BOOST_TEST(o.terminal_events() == 1);
  // No money was captured: the pear's commit may have landed unseen, so it is returned (the
  // inventory releases it if it is still only held); the hold is voided.
  BOOST_CHECK(last == (actions{return_stock{"apple", 2}, return_stock{"pear", 1},
                               void_or_refund_payment{}, notify{order_status::cancelled}}));
  BOOST_CHECK(!captures(o.handle(commit_answer("pear", commit_outcome::committed))));
  BOOST_TEST(o.terminal_events() == 1);
}

BOOST_AUTO_TEST_CASE(commit_rounds_are_bounded_in_number_and_in_backoff) {
  BOOST_TEST(policy.max_commit_rounds > 0);
  BOOST_TEST(policy.max_commit_rounds <= 30);
  BOOST_TEST(retry_delay_ms(policy, policy.max_commit_rounds, 0.999) < policy.retry_max_ms * 3 / 2);
}
