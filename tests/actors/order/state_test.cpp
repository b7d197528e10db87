#define BOOST_TEST_MODULE order_state
#include <boost/test/unit_test.hpp>

#include "actors/order/codec.hpp"
#include "actors/order/state.hpp"

#include <nlohmann/json.hpp>

#include <random>
#include <string>
#include <tuple>
#include <vector>

using namespace ordermesh::actors;
using namespace ordermesh::actors::order;

namespace {

const decide_context ctx{1'700'000'000'000'000, 0.0};
const saga_policy policy{};

place_order two_lines() {
  return place_order{"o1", "c1", {{"apple", 2}, {"pear", 1}}, {"tok", 1250}};
}

const order_placed placed{"o1", "c1", {{"apple", 2}, {"pear", 1}}, "tok", 1250};

order_state given(const std::vector<event>& events) {
  return apply_all(order_state{}, events);
}

order_decision when(const std::vector<event>& history, const command& cmd) {
  return decide(given(history), cmd, ctx, policy);
}

bool rejected_with(const order_decision& d, order_errc code) {
  return d.rejected && d.rejected->code == static_cast<uint8_t>(code) && d.events.empty();
}

bool accepted_with(const order_decision& d, const std::vector<event>& events) {
  return d.accepted() && d.events == events;
}

const std::vector<event> all_reserved{placed, stock_reserved{"apple"}, stock_reserved{"pear"},
                                      payment_requested{1}};

std::vector<event> with(std::vector<event> xs, const std::vector<event>& more) {
  xs.insert(xs.end(), more.begin(), more.end());
  return xs;
}

const std::vector<event> authorized =
    with(all_reserved, {payment_authorized{"psp-1"}, stock_commit_requested{1}});

const std::vector<event> confirmed =
    with(authorized, {stock_committed{"apple"}, stock_committed{"pear"}, order_confirmed{}});

} // namespace

BOOST_AUTO_TEST_SUITE(placing)

BOOST_AUTO_TEST_CASE(places_a_valid_order) {
  BOOST_CHECK(accepted_with(when({}, two_lines()), {placed}));
  auto s = given({placed});
  BOOST_CHECK(s.status == order_status::placed);
  BOOST_TEST(s.lines.size() == 2u);
  BOOST_CHECK(s.lines[0].reservation == line_reservation::pending);
}

BOOST_AUTO_TEST_CASE(a_redelivered_place_order_records_nothing) {
  BOOST_CHECK(accepted_with(when({placed}, two_lines()), {}));
}

BOOST_AUTO_TEST_CASE(placing_the_same_id_with_other_contents_is_a_conflict) {
  std::vector<place_order> other(5, two_lines());
  other[0].lines[0].qty = 3;
  other[1].lines.pop_back();
  other[2].customer_id = "c2";
  other[3].payment.card_token = "tok2";
  other[4].payment.amount_cents = 1;
  for (size_t i = 0; i < other.size(); ++i) {
    BOOST_CHECK_MESSAGE(rejected_with(when({placed}, other[i]), order_errc::conflicting_order),
                        "case " << i);
  }
  BOOST_CHECK(
      rejected_with(when({placed, order_confirmed{}}, other[0]), order_errc::conflicting_order));
}

BOOST_AUTO_TEST_CASE(rejects_an_order_that_breaks_a_rule) {
  std::vector<place_order> bad(7, two_lines());
  bad[0].lines.clear();
  bad[1].lines = std::vector<order_line>(max_lines + 1, order_line{"x", 1});
  for (size_t i = 0; i <= max_lines; ++i) {
    bad[1].lines[i].sku = "sku" + std::to_string(i);
  }
  bad[2].lines[0].qty = 0;
  bad[3].lines[0].qty = max_line_qty + 1;
  bad[4].lines[1].sku = "apple";
  bad[5].customer_id.clear();
  bad[6].payment.amount_cents = 0;
  for (size_t i = 0; i < bad.size(); ++i) {
    BOOST_CHECK_MESSAGE(rejected_with(when({}, bad[i]), order_errc::invalid_order), "case " << i);
  }
}

BOOST_AUTO_TEST_CASE(rejects_replies_for_an_order_never_placed) {
  BOOST_CHECK(
      rejected_with(when({}, record_reservation{"apple", true, ""}), order_errc::unknown_order));
  BOOST_CHECK(rejected_with(when({}, record_timeout{saga_step::reservation, 1}),
                            order_errc::unknown_order));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(reserving)

BOOST_AUTO_TEST_CASE(records_each_reserved_line_and_requests_payment_after_the_last) {
  BOOST_CHECK(accepted_with(when({placed}, record_reservation{"apple", true, ""}),
                            {stock_reserved{"apple"}}));
  BOOST_CHECK(
      accepted_with(when({placed, stock_reserved{"apple"}}, record_reservation{"pear", true, ""}),
                    {stock_reserved{"pear"}, payment_requested{1}}));
  auto s = given(all_reserved);
  BOOST_CHECK(s.status == order_status::reserved);
  BOOST_TEST(s.payment_attempt == 1);
}

BOOST_AUTO_TEST_CASE(a_repeated_reservation_reply_records_nothing) {
  BOOST_CHECK(accepted_with(
      when({placed, stock_reserved{"apple"}}, record_reservation{"apple", true, ""}), {}));
}

BOOST_AUTO_TEST_CASE(rejects_a_reservation_reply_for_a_sku_not_ordered) {
  BOOST_CHECK(rejected_with(when({placed}, record_reservation{"plum", true, ""}),
                            order_errc::unknown_line));
}

BOOST_AUTO_TEST_CASE(out_of_stock_on_any_line_rejects_the_order) {
  BOOST_CHECK(accepted_with(
      when({placed, stock_reserved{"apple"}}, record_reservation{"pear", false, "out_of_stock"}),
      {stock_reservation_failed{"pear", "out_of_stock"},
       order_rejected{"not enough stock of pear"}}));
}

BOOST_AUTO_TEST_CASE(an_sku_the_inventory_does_not_know_rejects_the_order_for_that_reason) {
  BOOST_CHECK(accepted_with(
      when({placed, stock_reserved{"apple"}}, record_reservation{"pear", false, "unknown_sku"}),
      {stock_reservation_failed{"pear", "unknown_sku"}, order_rejected{"unknown_sku: pear"}}));
}

BOOST_AUTO_TEST_CASE(a_reservation_timeout_cancels_the_order) {
  // An order taking its stock asks again once (saga_effects) before it gives up.
  BOOST_CHECK(accepted_with(when({placed}, record_timeout{saga_step::reservation, 1}), {}));
  BOOST_CHECK(accepted_with(when({placed}, record_timeout{saga_step::reservation, 2}),
                            {order_cancelled{"reservation timed out"}}));
  BOOST_CHECK(accepted_with(
      when({placed, stock_reserved{"apple"}}, record_timeout{saga_step::reservation, 1}),
      {order_cancelled{"reservation timed out"}}));
  BOOST_CHECK(accepted_with(when(all_reserved, record_timeout{saga_step::reservation, 1}), {}));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(paying)

BOOST_AUTO_TEST_CASE(an_authorization_starts_committing_the_stock_without_confirming) {
  BOOST_CHECK(accepted_with(
      when(all_reserved, record_authorization{1, payment_outcome::authorized, "", "psp-1"}),
      {payment_authorized{"psp-1"}, stock_commit_requested{1}}));
  auto s = given(authorized);
  BOOST_CHECK(s.status == order_status::reserved);
  BOOST_CHECK(s.committing());
  BOOST_TEST(s.psp_reference == "psp-1");
  BOOST_CHECK(accepted_with(
      when(authorized, record_authorization{2, payment_outcome::authorized, "", "psp-2"}), {}));
}

BOOST_AUTO_TEST_CASE(a_decline_cancels_the_order) {
  BOOST_CHECK(accepted_with(when(all_reserved, record_authorization{1, payment_outcome::declined,
                                                                    "insufficient funds", ""}),
                            {order_cancelled{"payment declined: insufficient funds"}}));
}

BOOST_AUTO_TEST_CASE(a_psp_failure_records_the_attempt_and_waits_for_a_retry) {
  BOOST_CHECK(
      accepted_with(when(all_reserved, record_authorization{1, payment_outcome::failed, "503", ""}),
                    {payment_attempt_failed{1, "503"}}));
  auto history = all_reserved;
  history.emplace_back(payment_attempt_failed{1, "503"});
  BOOST_CHECK(given(history).awaiting_payment_retry());
  BOOST_CHECK(accepted_with(when(history, record_timeout{saga_step::payment_retry, 1}),
                            {payment_requested{2}}));
}

BOOST_AUTO_TEST_CASE(an_authorization_timeout_counts_as_a_failed_attempt) {
  BOOST_CHECK(accepted_with(when(all_reserved, record_timeout{saga_step::payment, 1}),
                            {payment_attempt_failed{1, "timed out"}}));
}

BOOST_AUTO_TEST_CASE(the_last_failed_attempt_cancels_the_order) {
  auto history = all_reserved;
  history.insert(history.end(), {payment_attempt_failed{1, "503"}, payment_requested{2},
                                 payment_attempt_failed{2, "503"}, payment_requested{3}});
  BOOST_CHECK(accepted_with(
      when(history, record_authorization{3, payment_outcome::failed, "503", ""}),
      {payment_attempt_failed{3, "503"}, order_cancelled{"payment failed after 3 attempts: 503"}}));
}

BOOST_AUTO_TEST_CASE(stale_failures_and_timers_record_nothing) {
  auto history = all_reserved;
  history.insert(history.end(), {payment_attempt_failed{1, "503"}, payment_requested{2}});
  BOOST_CHECK(
      accepted_with(when(history, record_authorization{1, payment_outcome::failed, "x", ""}), {}));
  BOOST_CHECK(accepted_with(when(history, record_timeout{saga_step::payment, 1}), {}));
  BOOST_CHECK(accepted_with(when(history, record_timeout{saga_step::payment_retry, 1}), {}));
}

BOOST_AUTO_TEST_CASE(a_late_authorization_of_an_earlier_attempt_still_commits_the_stock) {
  auto history = all_reserved;
  history.insert(history.end(), {payment_attempt_failed{1, "timed out"}});
  BOOST_CHECK(accepted_with(
      when(history, record_authorization{1, payment_outcome::authorized, "", "psp-late"}),
      {payment_authorized{"psp-late"}, stock_commit_requested{1}}));
  // The retry timer of the failed attempt is stale once the money is held.
  auto held = with(history, {payment_authorized{"psp-late"}, stock_commit_requested{1}});
  BOOST_CHECK(accepted_with(when(held, record_timeout{saga_step::payment_retry, 1}), {}));
}

BOOST_AUTO_TEST_CASE(rejects_an_authorization_before_payment_was_requested) {
  // The older path, reserving its lines: no payment until every line is reserved. (An order
  // taking its lines accepts its first sale's answer: that sale is recorded by no event.)
  BOOST_CHECK(rejected_with(when({placed, stock_reserved{"apple"}},
                                 record_authorization{1, payment_outcome::authorized, "", "p"}),
                            order_errc::unexpected_reply));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(committing_stock)

record_stock_commit commit_answer(const std::string& sku, commit_outcome outcome,
                                  int32_t attempt = 1) {
  return record_stock_commit{sku, attempt, outcome,
                             outcome == commit_outcome::refused ? "reservation_expired"
                                                                : "overloaded"};
}

BOOST_AUTO_TEST_CASE(the_order_confirms_only_once_every_line_is_committed) {
  BOOST_CHECK(accepted_with(when(authorized, commit_answer("apple", commit_outcome::committed)),
                            {stock_committed{"apple"}}));
  auto one = with(authorized, {stock_committed{"apple"}});
  BOOST_CHECK(given(one).status == order_status::reserved);
  BOOST_CHECK(accepted_with(when(one, commit_answer("pear", commit_outcome::committed)),
                            {stock_committed{"pear"}, order_confirmed{}}));
  BOOST_CHECK(accepted_with(when(one, commit_answer("apple", commit_outcome::committed)), {}));
}

BOOST_AUTO_TEST_CASE(a_refused_commit_cancels_the_order_once_every_line_has_an_outcome) {
  // The other line's commit may still land: nothing is decided about the order yet.
  BOOST_CHECK(accepted_with(when(authorized, commit_answer("apple", commit_outcome::refused)),
                            {stock_commit_refused{"apple", "reservation_expired"}}));
  auto refused = with(authorized, {stock_commit_refused{"apple", "reservation_expired"}});
  BOOST_CHECK(
      accepted_with(when(refused, commit_answer("pear", commit_outcome::committed)),
                    {stock_committed{"pear"}, order_cancelled{"stock no longer held for apple"}}));
  BOOST_CHECK(accepted_with(when(refused, commit_answer("pear", commit_outcome::refused)),
                            {stock_commit_refused{"pear", "reservation_expired"},
                             order_cancelled{"stock no longer held for apple, pear"}}));
}

BOOST_AUTO_TEST_CASE(a_transient_commit_failure_or_timeout_fails_the_round_once) {
  BOOST_CHECK(accepted_with(when(authorized, commit_answer("apple", commit_outcome::failed)),
                            {stock_commit_failed{1, "apple: overloaded"}}));
  BOOST_CHECK(accepted_with(when(authorized, record_timeout{saga_step::stock_commit, 1}),
                            {stock_commit_failed{1, "timed out"}}));
  auto failed = with(authorized, {stock_commit_failed{1, "timed out"}});
  BOOST_CHECK(given(failed).awaiting_commit_retry());
  BOOST_CHECK(accepted_with(when(failed, commit_answer("pear", commit_outcome::failed)), {}));
  BOOST_CHECK(accepted_with(when(failed, record_timeout{saga_step::stock_commit, 1}), {}));
  BOOST_CHECK(accepted_with(when(failed, record_timeout{saga_step::stock_commit_retry, 1}),
                            {stock_commit_requested{2}}));
  // A late success of the failed round still counts.
  BOOST_CHECK(accepted_with(when(failed, commit_answer("apple", commit_outcome::committed)),
                            {stock_committed{"apple"}}));
  auto retrying = with(failed, {stock_commit_requested{2}});
  BOOST_CHECK(accepted_with(when(retrying, commit_answer("apple", commit_outcome::failed, 1)), {}));
  BOOST_CHECK(accepted_with(when(retrying, record_timeout{saga_step::stock_commit_retry, 1}), {}));
}

BOOST_AUTO_TEST_CASE(an_order_confirmed_by_the_old_binary_still_records_its_stock_commits) {
  // The old flow recorded the authorization and the confirmation together; its lines stayed
  // reserved. Their commits are recorded without a second terminal event.
  auto old = with(all_reserved, {payment_authorized{"psp-1"}, order_confirmed{}});
  BOOST_CHECK(given(old).committing());
  BOOST_CHECK(given(old).awaiting_commit_retry());
  BOOST_CHECK(accepted_with(when(old, record_timeout{saga_step::stock_commit_retry, 0}),
                            {stock_commit_requested{1}}));
  auto committing = with(old, {stock_commit_requested{1}, stock_committed{"apple"}});
  BOOST_CHECK(accepted_with(when(committing, commit_answer("pear", commit_outcome::committed)),
                            {stock_committed{"pear"}}));
  BOOST_CHECK(accepted_with(when(committing, commit_answer("pear", commit_outcome::refused)),
                            {stock_commit_refused{"pear", "reservation_expired"}}));
  BOOST_CHECK(!given(with(committing, {stock_committed{"pear"}})).committing());
  BOOST_CHECK(rejected_with(when(committing, record_compensated{}), order_errc::unexpected_reply));
  BOOST_CHECK(accepted_with(
      when(with(committing, {stock_commit_refused{"pear", "x"}}), record_compensated{}),
      {compensation_completed{}}));
}

BOOST_AUTO_TEST_CASE(the_last_undecided_commit_round_cancels_the_order) {
  auto at_last_round = with(authorized, {stock_committed{"apple"}});
  for (int32_t round = 1; round < policy.max_commit_rounds; ++round) {
    at_last_round.emplace_back(stock_commit_failed{round, "timed out"});
    at_last_round.emplace_back(stock_commit_requested{round + 1});
  }
  auto last = policy.max_commit_rounds;
  BOOST_CHECK(accepted_with(
      when(at_last_round, record_timeout{saga_step::stock_commit, last}),
      {stock_commit_failed{last, "timed out"},
       order_cancelled{"stock commit undecided after " + std::to_string(last) + " rounds"}}));
  BOOST_CHECK(accepted_with(
      when(at_last_round, commit_answer("pear", commit_outcome::failed, last)),
      {stock_commit_failed{last, "pear: overloaded"},
       order_cancelled{"stock commit undecided after " + std::to_string(last) + " rounds"}}));
}

BOOST_AUTO_TEST_CASE(rejects_a_commit_answer_before_the_payment_is_authorized) {
  BOOST_CHECK(rejected_with(when(all_reserved, commit_answer("apple", commit_outcome::committed)),
                            order_errc::unexpected_reply));
  BOOST_CHECK(rejected_with(when(authorized, commit_answer("plum", commit_outcome::committed)),
                            order_errc::unknown_line));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(finishing)

BOOST_AUTO_TEST_CASE(a_capture_completes_a_confirmed_order_once) {
  BOOST_CHECK(accepted_with(when(confirmed, record_capture{true}), {payment_captured{}}));
  BOOST_CHECK(rejected_with(when(confirmed, record_capture{false}), order_errc::capture_failed));
  auto captured = with(confirmed, {payment_captured{}});
  BOOST_CHECK(given(captured).saga_completed);
  BOOST_CHECK(accepted_with(when(captured, record_capture{true}), {}));
  BOOST_CHECK(
      rejected_with(when(all_reserved, record_capture{true}), order_errc::unexpected_reply));
  BOOST_CHECK(rejected_with(when(authorized, record_capture{true}), order_errc::unexpected_reply));
}

BOOST_AUTO_TEST_CASE(compensation_completes_a_rejected_or_cancelled_order_once) {
  std::vector<event> rejected{placed, stock_reservation_failed{"apple", "out_of_stock"},
                              order_rejected{"no apples"}};
  BOOST_CHECK(accepted_with(when(rejected, record_compensated{}), {compensation_completed{}}));
  rejected.emplace_back(compensation_completed{});
  BOOST_CHECK(accepted_with(when(rejected, record_compensated{}), {}));
  BOOST_CHECK(rejected_with(when({placed}, record_compensated{}), order_errc::unexpected_reply));
}

BOOST_AUTO_TEST_CASE(nothing_after_a_terminal_event_records_a_second_one) {
  std::mt19937 rng{7}; // fixed seed
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
  const std::vector<std::string> skus{"apple", "pear"};
  const std::vector<payment_outcome> outcomes{payment_outcome::authorized,
                                              payment_outcome::declined, payment_outcome::failed};
  for (int run = 0; run < 200; ++run) {
    auto s = given({placed});
    int terminal_events = 0;
    for (int i = 0; i < 40; ++i) {
      command cmd;
      switch (pick(6)) {
        case 0:
          cmd = record_reservation{skus[pick(2)], pick(4) != 0, "r"};
          break;
        case 1:
          cmd = record_authorization{pick(4), outcomes[pick(3)], "r", "p"};
          break;
        case 2:
          cmd = record_timeout{static_cast<saga_step>(pick(5)), pick(4)};
          break;
        case 3:
          cmd = record_capture{pick(2) == 0};
          break;
        case 4:
          cmd = record_stock_commit{skus[pick(2)], pick(3), static_cast<commit_outcome>(pick(3)),
                                    "r"};
          break;
        default:
          cmd = record_compensated{};
          break;
      }
      auto d = decide(s, cmd, ctx, policy);
      for (const auto& ev : d.events) {
        terminal_events += std::holds_alternative<order_confirmed>(ev) +
                           std::holds_alternative<order_rejected>(ev) +
                           std::holds_alternative<order_cancelled>(ev);
      }
      s = apply_all(std::move(s), d.events);
    }
    BOOST_REQUIRE_LE(terminal_events, 1);
  }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(recovery)

BOOST_AUTO_TEST_CASE(stops_restarts_and_has_the_same_state) {
  std::vector<event> before{placed, stock_reserved{"apple"}, stock_reserved{"pear"},
                            payment_requested{1}, payment_attempt_failed{1, "503"}};
  std::vector<event> after{payment_requested{2},      payment_authorized{"psp-2"},
                           stock_commit_requested{1}, stock_commit_failed{1, "timed out"},
                           stock_commit_requested{2}, stock_committed{"apple"},
                           stock_committed{"pear"},   order_confirmed{},
                           payment_captured{}};
  auto live = apply_all(given(before), after);

  auto snapshot = decode_snapshot(encode_snapshot(given(before)));
  BOOST_REQUIRE(snapshot);
  BOOST_CHECK(*snapshot == given(before));
  BOOST_CHECK(apply_all(*snapshot, after) == live);
  auto mid = with(before, {payment_requested{2}, payment_authorized{"p"}, stock_commit_requested{1},
                           stock_committed{"apple"}});
  auto mid_snapshot = decode_snapshot(encode_snapshot(given(mid)));
  BOOST_REQUIRE(mid_snapshot);
  BOOST_CHECK(*mid_snapshot == given(mid));

  std::vector<event> replayed;
  for (const auto& ev : before) {
    auto stored = encode(ev);
    replayed.push_back(*decode(stored.type, stored.schema_version, stored.payload));
  }
  BOOST_CHECK(apply_all(given(replayed), after) == live);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_CASE(a_snapshot_written_before_the_stock_commit_step_still_loads) {
  auto old = nlohmann::json::parse(encode_snapshot(given(all_reserved)));
  for (const auto* field : {"authorized", "commit_attempt", "failed_commit_attempt"}) {
    old.erase(field);
  }
  auto snapshot = decode_snapshot(old.dump());
  BOOST_REQUIRE(snapshot);
  BOOST_CHECK(*snapshot == given(all_reserved));
}

// -- what the saga makes of its steps' typed answers
// ------------------------------------------------

namespace {

// Field by field: these commands have no operator== of their own.
bool same(const record_reservation& x, const record_reservation& y) {
  return std::tie(x.sku, x.ok, x.reason) == std::tie(y.sku, y.ok, y.reason);
}
bool same(const record_stock_commit& x, const record_stock_commit& y) {
  return std::tie(x.sku, x.attempt, x.outcome, x.reason) ==
         std::tie(y.sku, y.attempt, y.outcome, y.reason);
}
bool same(const record_authorization& x, const record_authorization& y) {
  return std::tie(x.attempt, x.outcome, x.reason, x.psp_reference) ==
         std::tie(y.attempt, y.outcome, y.reason, y.psp_reference);
}

} // namespace

BOOST_AUTO_TEST_CASE(a_reserve_answer_is_read_from_what_the_inventory_recorded) {
  using inventory::inventory_recorded;
  using inventory::inventory_reply;
  BOOST_CHECK(
      same(reservation_answer("apple", inventory_reply{{inventory_recorded::reserved}, 2, {}}),
           record_reservation{"apple", true, ""}));
  // A repeat recorded nothing: its reservation stands.
  BOOST_CHECK(same(reservation_answer("apple", inventory_reply{{}, 2, {}}),
                   record_reservation{"apple", true, ""}));
  BOOST_CHECK(same(reservation_answer(
                       "apple", inventory_reply{{inventory_recorded::reservation_rejected}, 3, {}}),
                   record_reservation{"apple", false, "out_of_stock"}));
  BOOST_CHECK(same(reservation_refusal("pear", "unknown_sku"),
                   record_reservation{"pear", false, "unknown_sku"}));
}

BOOST_AUTO_TEST_CASE(a_take_is_committed_when_the_inventory_recorded_the_commit) {
  using inventory::inventory_recorded;
  using inventory::inventory_reply;
  // A take whose own older hold expired records that expiry first.
  BOOST_CHECK(same(take_answer("apple", inventory_reply{{inventory_recorded::reservation_expired,
                                                         inventory_recorded::committed},
                                                        4,
                                                        {}}),
                   record_stock_commit{"apple", 0, commit_outcome::committed, ""}));
  BOOST_CHECK(take_answer("apple", inventory_reply{{}, 4, {}}).outcome ==
              commit_outcome::committed);
  BOOST_CHECK(
      same(take_answer("apple", inventory_reply{{inventory_recorded::reservation_rejected}, 4, {}}),
           record_stock_commit{"apple", 0, commit_outcome::refused, "out_of_stock"}));
  BOOST_CHECK(same(take_refusal("apple", "unknown_sku"),
                   record_stock_commit{"apple", 0, commit_outcome::refused, "unknown_sku"}));
  BOOST_CHECK(
      same(commit_refusal("apple", 2, inventory::inventory_errc::reservation_expired, "late"),
           record_stock_commit{"apple", 2, commit_outcome::refused, "reservation_expired: late"}));
}

BOOST_AUTO_TEST_CASE(a_payment_reply_is_taken_as_its_report_only_when_it_shows_the_outcome) {
  payment::payment_summary p;
  BOOST_CHECK(!authorization_answer(p));
  p.status = payment::payment_status::authorized;
  p.authorized_attempt = 2;
  p.psp_reference = "psp-2";
  BOOST_CHECK(authorization_answer(p) &&
              same(*authorization_answer(p),
                   record_authorization{2, payment_outcome::authorized, "", "psp-2"}));
  p.capture_confirmed = true;
  BOOST_CHECK(!capture_answer(p)); // a surplus hold is still to release
  BOOST_CHECK(!void_done(p));
  p.settled = true;
  BOOST_CHECK(capture_answer(p) && capture_answer(p)->ok);
  BOOST_CHECK(void_done(p));
  BOOST_CHECK(!sale_closed(p));
  for (auto closed : {payment::payment_status::declined, payment::payment_status::voided,
                      payment::payment_status::refunded}) {
    p.status = closed;
    BOOST_CHECK(sale_closed(p));
  }
}

BOOST_AUTO_TEST_SUITE(taking)

const std::vector<event> placed_now{placed};

const std::vector<saga_action> take_both{take_stock{"apple", 2, 2000}, take_stock{"pear", 1, 2000},
                                         schedule_timeout{saga_step::reservation, 1, 2000}};

record_stock_commit take(const std::string& sku, commit_outcome outcome) {
  return record_stock_commit{sku, 0, outcome, "r"};
}

const saga_action first_sale = sell_payment{1250, "tok", 1, true};
const saga_action sale_timer = schedule_timeout{saga_step::payment, 1, 2000};

BOOST_AUTO_TEST_CASE(every_line_taken_records_nothing_and_sends_the_first_sale_with_its_timer) {
  const command taken_now = record_stock_taken{{"pear", "apple"}, true};
  BOOST_CHECK(accepted_with(when(placed_now, taken_now), {}));
  BOOST_CHECK(saga_effects(given(placed_now), taken_now, policy) ==
              (std::vector<saga_action>{first_sale, sale_timer}));
  // Every take a repeat: a sale may have been sent before (a crash, a lost answer), so the payment
  // reads its stream before it calls the PSP.
  const command taken_again = record_stock_taken{{"pear", "apple"}, false};
  BOOST_CHECK(accepted_with(when(placed_now, taken_again), {}));
  BOOST_CHECK(saga_effects(given(placed_now), taken_again, policy) ==
              (std::vector<saga_action>{sell_payment{1250, "tok", 1, false}, sale_timer}));
}

BOOST_AUTO_TEST_CASE(the_first_sales_outcome_confirms_or_cancels_an_order_still_placed) {
  auto d = when(placed_now, record_authorization{1, payment_outcome::authorized, "", "auth_1"});
  BOOST_CHECK(accepted_with(d, {order_confirmed{{"apple", "pear"}}}));
  auto s = given(with(placed_now, d.events));
  BOOST_CHECK(s.status == order_status::confirmed);
  BOOST_CHECK(s.sale && s.settled_by_runner);
  BOOST_CHECK(!s.has_line(line_reservation::pending)); // taken before the sale
  BOOST_CHECK(!s.confirmed_before_commit());
  // The payment reports a sale's outcome, final for its key, as attempt 0 (its reaction to sold
  // or sale_declined, and its resume): it confirms or cancels as well.
  BOOST_CHECK(accepted_with(
      when(placed_now, record_authorization{0, payment_outcome::authorized, "", "auth_1"}),
      {order_confirmed{{"apple", "pear"}}}));
  BOOST_CHECK(accepted_with(
      when(placed_now, record_authorization{0, payment_outcome::declined, "insufficient", ""}),
      {order_cancelled{"payment declined: insufficient"}}));
  d = when(placed_now, record_authorization{1, payment_outcome::declined, "insufficient", ""});
  BOOST_CHECK(accepted_with(d, {order_cancelled{"payment declined: insufficient"}}));
  // Cancelled while its sale may be on its way: the sale's key is reversed before any stock
  // goes back.
  BOOST_CHECK(given(with(placed_now, d.events)).sale);
}

BOOST_AUTO_TEST_CASE(a_failed_or_timed_out_first_sale_is_recorded_with_the_sale_for_its_retry) {
  auto d = when(placed_now, record_authorization{1, payment_outcome::failed, "503", ""});
  BOOST_CHECK(accepted_with(d, {sale_requested{1}, payment_attempt_failed{1, "503"}}));
  auto s = given(with(placed_now, d.events));
  BOOST_CHECK(s.status == order_status::reserved && s.sale && s.awaiting_payment_retry());
  BOOST_CHECK(accepted_with(when(placed_now, record_timeout{saga_step::payment, 1}),
                            {sale_requested{1}, payment_attempt_failed{1, "timed out"}}));
  // Only the first attempt is sent unrecorded: another attempt's answer is stale here.
  BOOST_CHECK(accepted_with(
      when(placed_now, record_authorization{2, payment_outcome::failed, "503", ""}), {}));
  BOOST_CHECK(accepted_with(when(placed_now, record_timeout{saga_step::payment, 2}), {}));
  // A budget of one attempt: cancelled at once.
  saga_policy one{};
  one.max_payment_attempts = 1;
  auto last = decide(given(placed_now), record_timeout{saga_step::payment, 1}, ctx, one);
  BOOST_CHECK(last.events.size() == 3u &&
              std::holds_alternative<order_cancelled>(last.events.back()));
}

BOOST_AUTO_TEST_CASE(a_reservation_timeout_of_an_order_that_may_be_selling_reverses_the_sale) {
  // Round 2's timer: the order is still placed as far as its journal says, but every line may
  // have been taken and the sale sent.
  auto d = when(placed_now, record_timeout{saga_step::reservation, 2});
  BOOST_CHECK(accepted_with(d, {order_cancelled{"reservation timed out"}}));
  BOOST_CHECK(given(with(placed_now, d.events)).sale);
}

BOOST_AUTO_TEST_CASE(a_stream_of_the_earlier_binary_with_a_commit_per_line_folds_the_same) {
  BOOST_CHECK(given({placed, stock_committed{"apple"}, stock_committed{"pear"},
                     sale_requested{1}}) == given({placed, sale_requested{1}}));
  // Its order, recovered with one line recorded, takes the other and records nothing.
  auto one_recorded = with(placed_now, {stock_committed{"apple"}});
  const command pear = record_stock_taken{{"pear"}, false};
  BOOST_CHECK(accepted_with(when(one_recorded, pear), {}));
  BOOST_CHECK(saga_effects(given(one_recorded), pear, policy) ==
              (std::vector<saga_action>{sell_payment{1250, "tok", 1, false}, sale_timer}));
  // An order that recorded sale_requested{1} (the previous binary) is selling: its sale's outcome
  // confirms it as before.
  auto selling = with(placed_now, {sale_requested{1}});
  BOOST_CHECK(accepted_with(
      when(selling, record_authorization{1, payment_outcome::authorized, "", "auth_1"}),
      {order_confirmed{{"apple", "pear"}}}));
}

BOOST_AUTO_TEST_CASE(a_take_report_that_changes_nothing_records_and_sends_nothing) {
  // A line still awaits its take.
  const command apple = record_stock_taken{{"apple"}, true};
  BOOST_CHECK(accepted_with(when(placed_now, apple), {}));
  BOOST_CHECK(saga_effects(given(placed_now), apple, policy).empty());
  // Repeated, or the order moved on.
  const command both = record_stock_taken{{"apple", "pear"}, true};
  auto selling = with(placed_now, {sale_requested{1}});
  BOOST_CHECK(accepted_with(when(selling, both), {}));
  BOOST_CHECK(saga_effects(given(selling), both, policy).empty());
  auto sold = with(placed_now, {order_confirmed{{"apple", "pear"}}});
  BOOST_CHECK(accepted_with(when(sold, both), {}));
  BOOST_CHECK(saga_effects(given(sold), both, policy).empty());
  auto rejected =
      with(placed_now, {stock_reservation_failed{"pear", "out_of_stock"}, order_rejected{"r"}});
  BOOST_CHECK(accepted_with(when(rejected, both), {}));
  BOOST_CHECK(saga_effects(given(rejected), both, policy).empty());
  BOOST_CHECK(rejected_with(when(placed_now, record_stock_taken{{"apple", "plum"}, true}),
                            order_errc::unknown_line));
}

BOOST_AUTO_TEST_CASE(a_tally_reports_once_every_take_of_its_batch_is_committed) {
  take_tally tally{take_both};
  BOOST_CHECK(!tally.empty());
  BOOST_CHECK(!tally.add(take("apple", commit_outcome::committed), false));
  BOOST_CHECK(!tally.add(take("apple", commit_outcome::committed), false)); // a repeated answer
  BOOST_CHECK(!tally.add(take("pear", commit_outcome::failed), false));   // transient: no decision
  BOOST_CHECK(!tally.add(take("plum", commit_outcome::committed), true)); // not of this batch
  auto all = tally.add(take("pear", commit_outcome::committed), false);
  BOOST_REQUIRE(all.has_value());
  BOOST_CHECK((*all == command{record_stock_taken{{"apple", "pear"}, false}}));
  BOOST_CHECK(!tally.add(take("pear", commit_outcome::committed), true)); // reported already
  BOOST_CHECK(take_tally{std::vector<saga_action>{notify{order_status::confirmed}}}.empty());
  // Only a batch whose every take committed now says so: a repeat in it means an earlier batch
  // may have taken every line and sent a sale.
  take_tally mixed{take_both};
  BOOST_CHECK(!mixed.add(take("apple", commit_outcome::committed), true));
  BOOST_CHECK((*mixed.add(take("pear", commit_outcome::committed), false) ==
               command{record_stock_taken{{"apple", "pear"}, false}}));
  take_tally fresh{take_both};
  BOOST_CHECK(!fresh.add(take("apple", commit_outcome::committed), true));
  BOOST_CHECK((*fresh.add(take("pear", commit_outcome::committed), true) ==
               command{record_stock_taken{{"apple", "pear"}, true}}));
}

BOOST_AUTO_TEST_CASE(a_take_committed_now_only_when_this_delivery_recorded_the_commit) {
  using inventory::inventory_recorded;
  using inventory::inventory_reply;
  BOOST_CHECK(took_now(inventory_reply{{inventory_recorded::committed}, 3, {}, false}));
  BOOST_CHECK(took_now(inventory_reply{
      {inventory_recorded::reservation_expired, inventory_recorded::committed}, 3, {}, false}));
  BOOST_CHECK(!took_now(inventory_reply{{}, 3, {}, true})); // an idempotent repeat
  // A redelivery answered with its first outcome.
  BOOST_CHECK(!took_now(inventory_reply{{inventory_recorded::committed}, 3, {}, true}));
  BOOST_CHECK(!took_now(inventory_reply{{inventory_recorded::reservation_rejected}, 3, {}, false}));
}

BOOST_AUTO_TEST_CASE(a_tally_reports_the_first_refusal_at_once_and_nothing_after_it) {
  take_tally tally{take_both};
  BOOST_CHECK(!tally.add(take("apple", commit_outcome::committed), true));
  auto refused = tally.add(take("pear", commit_outcome::refused), false);
  BOOST_REQUIRE(refused.has_value());
  BOOST_CHECK((*refused == command{take("pear", commit_outcome::refused)}));
  BOOST_CHECK(!tally.add(take("apple", commit_outcome::refused), false));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(finishing)

BOOST_AUTO_TEST_CASE(an_order_is_finished_only_once_it_ended_and_its_saga_has_nothing_left) {
  const std::vector<event> selling{placed, sale_requested{1}};
  BOOST_CHECK(!finished(order_state{}));
  BOOST_CHECK(!finished(given({placed})));
  BOOST_CHECK(!finished(given(selling)));
  // Confirmed: the settles are still on their way until payment_captured records their answers.
  BOOST_CHECK(!finished(given(with(selling, {order_confirmed{}}))));
  // Confirmed naming its SKUs after a recorded sale request: the settlement runner settles and
  // notifies it from the journal, and its saga notifies it too and ends once answered.
  BOOST_CHECK(!finished(given(with(selling, {order_confirmed{{"pear"}}}))));
  BOOST_CHECK(finished(given(with(selling, {order_confirmed{{"pear"}}, payment_captured{}}))));
  BOOST_CHECK(finished(given(with(selling, {order_confirmed{}, payment_captured{}}))));
  // Confirmed straight from placed (the first sale is recorded by no event): a sale naming its
  // SKUs, finished at once like any other.
  BOOST_CHECK(finished(given({placed, order_confirmed{{"apple", "pear"}}})));
  // Rejected or cancelled: finished once its compensation is done.
  const std::vector<event> rejected{placed, stock_reservation_failed{"pear", "out_of_stock"},
                                    order_rejected{"r"}};
  BOOST_CHECK(!finished(given(rejected)));
  BOOST_CHECK(finished(given(with(rejected, {compensation_completed{}}))));
  const auto cancelled = with(selling, {order_cancelled{"payment declined"}});
  BOOST_CHECK(!finished(given(cancelled)));
  BOOST_CHECK(finished(given(with(cancelled, {compensation_completed{}}))));
  // The older path: confirmed, then captured.
  BOOST_CHECK(!finished(given(confirmed)));
  BOOST_CHECK(finished(given(with(confirmed, {payment_captured{}}))));
}

BOOST_AUTO_TEST_SUITE_END()
