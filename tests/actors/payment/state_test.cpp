#define BOOST_TEST_MODULE payment_state
#include <boost/test/unit_test.hpp>

#include "actors/common/overloaded.hpp"
#include "actors/payment/codec.hpp"
#include "actors/payment/state.hpp"

#include <algorithm>
#include <set>
#include <utility>
#include <vector>

using namespace ordermesh::actors;
using namespace ordermesh::actors::payment;

namespace {

const decide_context ctx{1'700'000'000'000'000, 0.0};

const authorization_requested requested1{1250, "tok", "o1/1", 1};

payment_state given(const std::vector<event>& events) {
  return apply_all(payment_state{}, events);
}

payment_decision when(const std::vector<event>& history, const command& cmd) {
  return decide(given(history), cmd, ctx);
}

bool rejected_with(const payment_decision& d, payment_errc code) {
  return d.rejected && d.rejected->code == static_cast<uint8_t>(code) && d.events.empty();
}

bool accepted_with(const payment_decision& d, const std::vector<event>& events) {
  return d.accepted() && d.events == events;
}

const std::vector<event> authorized_payment{requested1, authorized{"o1/1", "psp-1"}};
const std::vector<event> captured_payment{requested1, authorized{"o1/1", "psp-1"}, captured{1250}};

/// A small deterministic generator (no clock, no std::random_device): one seed, one run.
struct lcg {
  uint64_t x;
  uint32_t next(uint32_t n) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<uint32_t>((x >> 33) % n);
  }
};

} // namespace

BOOST_AUTO_TEST_SUITE(authorizing)

BOOST_AUTO_TEST_CASE(authorize_requests_the_first_attempt) {
  BOOST_CHECK(accepted_with(when({}, authorize{1250, "tok", "o1/1"}), {requested1}));
  auto s = given({requested1});
  BOOST_CHECK(s.status == payment_status::requested);
  BOOST_TEST(s.attempt == 1);
}

BOOST_AUTO_TEST_CASE(rejects_an_authorize_without_amount_card_or_key) {
  BOOST_CHECK(rejected_with(when({}, authorize{0, "tok", "k"}), payment_errc::invalid_payment));
  BOOST_CHECK(rejected_with(when({}, authorize{1, "", "k"}), payment_errc::invalid_payment));
  BOOST_CHECK(rejected_with(when({}, authorize{1, "tok", ""}), payment_errc::invalid_payment));
}

BOOST_AUTO_TEST_CASE(a_repeated_authorize_records_nothing_but_a_new_key_is_a_new_attempt) {
  BOOST_CHECK(accepted_with(when({requested1}, authorize{1250, "tok", "o1/1"}), {}));
  BOOST_CHECK(accepted_with(when({requested1}, authorize{1250, "tok", "o1/2"}),
                            {authorization_requested{1250, "tok", "o1/2", 2}}));
  BOOST_CHECK(accepted_with(when(authorized_payment, authorize{1250, "tok", "o1/2"}), {}));
}

BOOST_AUTO_TEST_CASE(a_failed_attempt_can_be_followed_by_another) {
  std::vector<event> failed{requested1, authorization_failed{"o1/1", "503", 1}};
  BOOST_CHECK(given(failed).status == payment_status::failed);
  BOOST_CHECK(accepted_with(when(failed, authorize{1250, "tok", "o1/2"}),
                            {authorization_requested{1250, "tok", "o1/2", 2}}));
}

BOOST_AUTO_TEST_CASE(rejects_authorize_after_a_decline_or_once_closed) {
  BOOST_CHECK(
      rejected_with(when({requested1, declined{"o1/1", "stolen"}}, authorize{1250, "tok", "k2"}),
                    payment_errc::payment_declined));
  BOOST_CHECK(rejected_with(when({requested1, voided{}}, authorize{1250, "tok", "k2"}),
                            payment_errc::payment_closed));
}

BOOST_AUTO_TEST_CASE(records_the_psp_answer_to_the_pending_attempt) {
  using o = psp_outcome;
  BOOST_CHECK(accepted_with(when({requested1}, record_psp_result{"o1/1", o::authorized, "psp", ""}),
                            {authorized{"o1/1", "psp"}}));
  BOOST_CHECK(accepted_with(when({requested1}, record_psp_result{"o1/1", o::declined, "", "nsf"}),
                            {declined{"o1/1", "nsf"}}));
  BOOST_CHECK(accepted_with(when({requested1}, record_psp_result{"o1/1", o::failed, "", "503"}),
                            {authorization_failed{"o1/1", "503", 1}}));
  auto s = given({requested1, authorized{"o1/1", "psp"}});
  BOOST_CHECK(s.status == payment_status::authorized);
  BOOST_TEST(s.psp_reference == "psp");
}

BOOST_AUTO_TEST_CASE(stale_or_repeated_psp_answers_record_nothing) {
  using o = psp_outcome;
  BOOST_CHECK(
      accepted_with(when({requested1}, record_psp_result{"old", o::failed, "", "503"}), {}));
  BOOST_CHECK(accepted_with(
      when(authorized_payment, record_psp_result{"o1/1", o::authorized, "psp-1", ""}), {}));
  BOOST_CHECK(rejected_with(when({}, record_psp_result{"k", o::authorized, "p", ""}),
                            payment_errc::unknown_payment));
}

BOOST_AUTO_TEST_CASE(a_late_success_of_a_failed_attempt_still_counts) {
  BOOST_CHECK(accepted_with(when({requested1, authorization_failed{"o1/1", "timeout", 1}},
                                 record_psp_result{"o1/1", psp_outcome::authorized, "psp", ""}),
                            {authorized{"o1/1", "psp"}}));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(capturing_refunding_voiding)

BOOST_AUTO_TEST_CASE(captures_an_authorized_payment_exactly_once) {
  BOOST_CHECK(accepted_with(when(authorized_payment, capture{}), {captured{1250}}));
  BOOST_CHECK(accepted_with(when(captured_payment, capture{}), {}));
  BOOST_CHECK(given(captured_payment).status == payment_status::captured);
}

BOOST_AUTO_TEST_CASE(rejects_a_capture_before_the_authorization) {
  BOOST_CHECK(rejected_with(when({}, capture{}), payment_errc::not_authorized));
  BOOST_CHECK(rejected_with(when({requested1}, capture{}), payment_errc::not_authorized));
  BOOST_CHECK(rejected_with(when({requested1, voided{}}, capture{}), payment_errc::not_authorized));
}

BOOST_AUTO_TEST_CASE(refunds_only_a_captured_payment_and_only_once) {
  BOOST_CHECK(accepted_with(when(captured_payment, refund{}), {refunded{1250}}));
  auto done = captured_payment;
  done.emplace_back(refunded{1250});
  BOOST_CHECK(given(done).status == payment_status::refunded);
  BOOST_CHECK(accepted_with(when(done, refund{}), {}));
  BOOST_CHECK(accepted_with(when(done, capture{}), {}));
  BOOST_CHECK(rejected_with(when(authorized_payment, refund{}), payment_errc::not_captured));
}

BOOST_AUTO_TEST_CASE(voids_an_uncaptured_or_declined_payment_once) {
  BOOST_CHECK(
      accepted_with(when({requested1, declined{"o1/1", "nsf"}}, void_authorization{}), {voided{}}));
  BOOST_CHECK(accepted_with(when(authorized_payment, void_authorization{}), {voided{}}));
  BOOST_CHECK(accepted_with(when({requested1}, void_authorization{}), {voided{}}));
  BOOST_CHECK(accepted_with(when({requested1, voided{}}, void_authorization{}), {}));
  BOOST_CHECK(given({requested1, voided{}}).status == payment_status::voided);
  BOOST_CHECK(
      rejected_with(when(captured_payment, void_authorization{}), payment_errc::already_captured));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(late_results_and_holds)

const authorization_requested requested2{1250, "tok", "o1/2", 2};
const authorization_requested requested3{1250, "tok", "o1/3", 3};

BOOST_AUTO_TEST_CASE(a_slow_attempt_1_success_after_attempt_2_failed_is_recorded_as_attempt_1s) {
  std::vector<event> history{requested1, authorization_failed{"o1/1", "timed out", 1}, requested2,
                             authorization_failed{"o1/2", "503", 2}};
  auto d = when(history, record_psp_result{"o1/1", psp_outcome::authorized, "psp-1", ""});
  BOOST_CHECK(accepted_with(d, {authorized{"o1/1", "psp-1"}}));
  auto s = apply_all(given(history), d.events);
  BOOST_CHECK(s.status == payment_status::authorized);
  BOOST_TEST(s.authorized_key == "o1/1");
  BOOST_TEST(s.psp_reference == "psp-1");
  // Attempt 2 failed without an answer: it may hold money too, and is released.
  BOOST_CHECK((holds_to_release(s) == std::vector<std::string>{"o1/2"}));
  // Reported as attempt 1's success, a message of its own next to attempt 2's failure report.
  auto failure = report_of(given(history), *find_attempt(given(history), "o1/2"));
  auto success = report_of(s, *find_attempt(s, "o1/1"));
  BOOST_REQUIRE(failure);
  BOOST_REQUIRE(success);
  BOOST_TEST(success->attempt == 1);
  BOOST_CHECK(success->outcome == psp_outcome::authorized);
  BOOST_TEST(success->psp_reference == "psp-1");
  BOOST_TEST(success->identity() != failure->identity());
}

BOOST_AUTO_TEST_CASE(a_surplus_hold_and_a_stale_failure_are_not_reported) {
  auto s = given({requested1, authorization_failed{"o1/1", "t", 1}, requested2,
                  authorized{"o1/2", "psp-2"}, authorized{"o1/1", "psp-1"}});
  BOOST_CHECK(!report_of(s, *find_attempt(s, "o1/1")));
  BOOST_CHECK(report_of(s, *find_attempt(s, "o1/2")));
  auto open = given({requested1, authorization_failed{"o1/1", "t", 1}, requested2});
  BOOST_CHECK(!report_of(open, *find_attempt(open, "o1/1")));
}

BOOST_AUTO_TEST_CASE(a_late_success_after_the_payment_was_voided_is_recorded_and_released) {
  std::vector<event> history{requested1, authorization_failed{"o1/1", "timed out", 1}, voided{}};
  auto d = when(history, record_psp_result{"o1/1", psp_outcome::authorized, "psp-1", ""});
  BOOST_CHECK(accepted_with(d, {authorized{"o1/1", "psp-1"}}));
  auto s = apply_all(given(history), d.events);
  BOOST_CHECK(s.status == payment_status::voided);
  BOOST_CHECK((holds_to_release(s) == std::vector<std::string>{"o1/1"}));
  s = apply(s, hold_released{"o1/1"});
  BOOST_CHECK(holds_to_release(s).empty());
  // The late answer comes again (a resend): it is recorded again and released again.
  BOOST_CHECK(
      accepted_with(decide(s, record_psp_result{"o1/1", psp_outcome::authorized, "psp-1", ""}, ctx),
                    {authorized{"o1/1", "psp-1"}}));
}

BOOST_AUTO_TEST_CASE(a_second_success_while_authorized_is_a_surplus_hold_released_at_once) {
  std::vector<event> history{requested1, authorization_failed{"o1/1", "timed out", 1}, requested2,
                             authorized{"o1/2", "psp-2"}};
  auto d = when(history, record_psp_result{"o1/1", psp_outcome::authorized, "psp-1", ""});
  auto s = apply_all(given(history), d.events);
  BOOST_TEST(s.psp_reference == "psp-2");
  BOOST_CHECK((holds_to_release(s) == std::vector<std::string>{"o1/1"}));
  s = apply(s, captured{1250});
  BOOST_CHECK((holds_to_release(s) == std::vector<std::string>{"o1/1"}));
}

BOOST_AUTO_TEST_CASE(while_the_payment_is_open_no_attempt_is_released) {
  BOOST_CHECK(
      holds_to_release(given({requested1, authorization_failed{"o1/1", "t", 1}, requested2}))
          .empty());
}

BOOST_AUTO_TEST_CASE(voiding_releases_every_attempt_not_declined_or_released) {
  auto s = given({requested1, authorization_failed{"o1/1", "t", 1}, requested2,
                  declined{"o1/2", "nsf"}, requested3, hold_released{"o1/3"}, voided{}});
  BOOST_CHECK((holds_to_release(s) == std::vector<std::string>{"o1/1"}));
  BOOST_CHECK(accepted_with(decide(s, record_hold_released{"o1/1"}, ctx), {hold_released{"o1/1"}}));
  BOOST_CHECK(accepted_with(decide(s, record_hold_released{"o1/3"}, ctx), {}));
  BOOST_CHECK(accepted_with(decide(s, record_hold_released{"nope"}, ctx), {}));
}

BOOST_AUTO_TEST_CASE(the_captured_attempt_is_never_released) {
  auto s = given({requested1, authorized{"o1/1", "psp-1"}, captured{1250}});
  BOOST_CHECK(holds_to_release(s).empty());
  s = apply(s, refunded{1250});
  BOOST_CHECK(holds_to_release(s).empty());
}

BOOST_AUTO_TEST_CASE(a_capture_is_settled_only_once_the_psp_confirmed_it) {
  BOOST_CHECK(!settled(given(captured_payment)));
  BOOST_CHECK(
      accepted_with(when(captured_payment, record_capture_confirmed{}), {capture_confirmed{}}));
  auto confirmed = captured_payment;
  confirmed.emplace_back(capture_confirmed{});
  BOOST_CHECK(given(confirmed).capture_confirmed);
  BOOST_CHECK(settled(given(confirmed)));
  BOOST_CHECK(accepted_with(when(confirmed, record_capture_confirmed{}), {}));
  BOOST_CHECK(accepted_with(when(authorized_payment, record_capture_confirmed{}), {}));
}

BOOST_AUTO_TEST_CASE(a_captured_payment_with_a_spare_hold_is_settled_once_it_is_released) {
  auto s = given({requested1, authorization_failed{"o1/1", "t", 1}, requested2,
                  authorized{"o1/2", "psp-2"}, captured{1250}, capture_confirmed{}});
  BOOST_CHECK(!settled(s));
  s = apply(s, hold_released{"o1/1"});
  BOOST_CHECK(settled(s));
}

BOOST_AUTO_TEST_CASE(a_voided_payment_is_settled_once_every_hold_is_released) {
  auto s = given({requested1, authorized{"o1/1", "psp-1"}, voided{}});
  BOOST_CHECK(!settled(s));
  s = apply(s, hold_released{"o1/1"});
  BOOST_CHECK(settled(s));
}

BOOST_AUTO_TEST_CASE(the_summary_names_the_authorization_in_use_and_whether_it_is_settled) {
  auto s = given(
      {requested1, authorization_failed{"o1/1", "t", 1}, requested2, authorized{"o1/2", "psp-2"}});
  auto summary = summary_of(s);
  BOOST_TEST((summary.status == payment_status::authorized));
  BOOST_TEST(summary.authorized_attempt == 2);
  BOOST_TEST(summary.psp_reference == "psp-2");
  BOOST_TEST(!summary.capture_confirmed);
  BOOST_TEST(!summary.settled); // attempt 1 may hold money until released
  BOOST_TEST(summary_of(given({requested1})).authorized_attempt == 0);
}

BOOST_AUTO_TEST_CASE(after_any_interleaving_a_voided_payment_ends_holding_nothing) {
  // Random interleavings of authorize, answers (any attempt, any outcome, late and repeated) and
  // void; then the releases the state asks for are carried out by a PSP that answers them all.
  // Whatever happened, once every release is confirmed nothing is left to release, and no
  // attempt that may hold money is unaccounted for.
  for (uint64_t seed = 1; seed <= 2000; ++seed) {
    lcg rng{seed};
    payment_state s;
    auto run = [&](const command& c) {
      auto d = decide(s, c, ctx);
      s = apply_all(s, d.events);
    };
    const int steps = 3 + static_cast<int>(rng.next(12));
    for (int i = 0; i < steps; ++i) {
      const auto key = "o/" + std::to_string(1 + rng.next(4));
      switch (rng.next(5)) {
        case 0:
          run(authorize{100, "tok", key});
          break;
        case 1:
        case 2:
        case 3:
          run(record_psp_result{key, static_cast<psp_outcome>(rng.next(3)), "psp-" + key, "r"});
          break;
        default:
          run(record_hold_released{key});
          break;
      }
    }
    run(void_authorization{});
    // Late answers after the void, then the releases are confirmed.
    for (int i = 0; i < 3; ++i) {
      run(record_psp_result{"o/" + std::to_string(1 + rng.next(4)), psp_outcome::authorized,
                            "psp-late", ""});
    }
    for (const auto& key : holds_to_release(s)) {
      run(record_hold_released{key});
    }
    BOOST_TEST_REQUIRE(holds_to_release(s).empty(), "seed " << seed);
    for (const auto& a : s.attempts) {
      BOOST_TEST_REQUIRE(
          (a.status == attempt_status::released || a.status == attempt_status::declined),
          "seed " << seed << " attempt " << a.idempotency_key);
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(recovery)

BOOST_AUTO_TEST_CASE(stops_restarts_and_has_the_same_state) {
  std::vector<event> before{requested1, authorization_failed{"o1/1", "503", 1},
                            authorization_requested{1250, "tok", "o1/2", 2}};
  std::vector<event> after{authorized{"o1/2", "psp-2"}, captured{1250}, refunded{1250}};
  auto live = apply_all(given(before), after);

  auto snapshot = decode_snapshot(encode_snapshot(given(before)));
  BOOST_REQUIRE(snapshot);
  BOOST_CHECK(*snapshot == given(before));
  BOOST_CHECK(apply_all(*snapshot, after) == live);

  std::vector<event> replayed;
  for (const auto& ev : before) {
    auto stored = encode(ev);
    replayed.push_back(*decode(stored.type, stored.schema_version, stored.payload));
  }
  BOOST_CHECK(apply_all(given(replayed), after) == live);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(selling)

const sell sell1{1250, "tok", "o1/sale", 1};

BOOST_AUTO_TEST_CASE(a_sell_records_nothing_and_calls_the_psp_as_its_effect) {
  BOOST_CHECK(accepted_with(when({}, sell1), {}));
  auto effects = sale_effects(payment_state{}, sell1);
  BOOST_REQUIRE(effects.size() == 1u);
  const auto* call = std::get_if<psp_request>(&effects.front());
  BOOST_REQUIRE(call != nullptr);
  BOOST_CHECK(call->operation == psp_operation::sale);
  BOOST_TEST(call->idempotency_key == "o1/sale");
  BOOST_TEST(call->amount_cents == 1250);
  BOOST_TEST(call->attempt == 1);
}

BOOST_AUTO_TEST_CASE(a_sale_answer_is_recorded_once_and_a_resent_sell_reports_it_again) {
  auto d = when({}, record_sale_result{"o1/sale", psp_outcome::authorized, "psp-1", "", 1, 1250});
  BOOST_CHECK(accepted_with(d, {sold{"o1/sale", "psp-1", 1250}}));
  auto s = given(d.events);
  BOOST_CHECK(s.status == payment_status::captured);
  BOOST_TEST(settled(s));
  BOOST_CHECK(accepted_with(
      decide(s, record_sale_result{"o1/sale", psp_outcome::authorized, "psp-1", "", 2, 1250}, ctx),
      {}));
  auto again = sale_effects(s, sell{1250, "tok", "o1/sale", 2});
  BOOST_REQUIRE(again.size() == 1u);
  const auto* report = std::get_if<report_authorization>(&again.front());
  BOOST_REQUIRE(report != nullptr);
  BOOST_CHECK(report->outcome == psp_outcome::authorized);
  BOOST_TEST(report->attempt == 2);
}

BOOST_AUTO_TEST_CASE(a_failed_sale_records_nothing_and_is_reported_per_attempt) {
  record_sale_result failed1{"o1/sale", psp_outcome::failed, "", "503", 1, 1250};
  BOOST_CHECK(accepted_with(when({}, failed1), {}));
  auto effects = sale_effects(payment_state{}, failed1);
  BOOST_REQUIRE(effects.size() == 1u);
  const auto* report = std::get_if<report_authorization>(&effects.front());
  BOOST_REQUIRE(report != nullptr);
  BOOST_CHECK(report->outcome == psp_outcome::failed);
  auto failed2 = *report;
  failed2.attempt = 2;
  BOOST_TEST(report->identity() != failed2.identity());
}

BOOST_AUTO_TEST_CASE(a_reversed_sale_is_closed_and_a_late_answer_changes_nothing) {
  auto reversed = given({sale_reversed{"o1/sale"}});
  BOOST_TEST(sale_closed(reversed));
  BOOST_CHECK(accepted_with(
      decide(reversed, record_sale_result{"o1/sale", psp_outcome::authorized, "psp-1", "", 1, 1250},
             ctx),
      {}));
  BOOST_CHECK(rejected_with(decide(reversed, sell1, ctx), payment_errc::payment_closed));
  BOOST_TEST(sale_effects(reversed, reverse_sale{"o1/sale"}).empty());
  auto refunded = given({sold{"o1/sale", "psp-1", 1250}, sale_reversed{"o1/sale"}});
  BOOST_CHECK(refunded.status == payment_status::refunded);
  BOOST_TEST(sale_closed(refunded));
}

BOOST_AUTO_TEST_CASE(a_declined_sale_needs_no_reversal_and_an_open_one_is_reversed_at_the_psp) {
  auto declined_sale = given({sale_declined{"o1/sale", "insufficient_funds"}});
  BOOST_TEST(sale_closed(declined_sale));
  BOOST_TEST(sale_effects(declined_sale, reverse_sale{"o1/sale"}).empty());
  auto effects = sale_effects(payment_state{}, reverse_sale{"o1/sale"});
  BOOST_REQUIRE(effects.size() == 1u);
  const auto* call = std::get_if<psp_request>(&effects.front());
  BOOST_REQUIRE(call != nullptr);
  BOOST_CHECK(call->operation == psp_operation::reverse);
  BOOST_TEST(call->idempotency_key == "o1/sale/reverse");
  BOOST_TEST(call->authorization_key == "o1/sale");
  BOOST_CHECK(accepted_with(when({}, record_sale_reversed{"o1/sale"}), {sale_reversed{"o1/sale"}}));
}

BOOST_AUTO_TEST_CASE(a_payment_that_authorizes_first_never_sells) {
  BOOST_CHECK(rejected_with(when(authorized_payment, sell1), payment_errc::payment_closed));
  BOOST_TEST(sale_effects(given(authorized_payment), sell1).empty());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(reacting_and_resuming)

/// The PSP calls among `actions`, as (operation, idempotency key).
std::set<std::pair<psp_operation, std::string>>
calls_in(const std::vector<payment_action>& actions) {
  std::set<std::pair<psp_operation, std::string>> out;
  for (const auto& a : actions) {
    if (const auto* r = std::get_if<psp_request>(&a)) {
      out.emplace(r->operation, r->idempotency_key);
    }
  }
  return out;
}

template <class T>
size_t count_of(const std::vector<payment_action>& actions) {
  return static_cast<size_t>(std::count_if(
      actions.begin(), actions.end(), [](const auto& a) { return std::holds_alternative<T>(a); }));
}

/// The reactions to the last of `history` (the state includes it).
std::vector<payment_action> reacting_to(const std::vector<event>& history) {
  return reactions(given(history), history.back(), "o1");
}

BOOST_AUTO_TEST_CASE(a_requested_attempt_is_sent_to_the_psp_under_its_own_key) {
  auto actions = reacting_to({requested1});
  BOOST_REQUIRE(actions.size() == 1u);
  const auto& call = std::get<psp_request>(actions.front());
  BOOST_CHECK(call.operation == psp_operation::authorize);
  BOOST_TEST(call.idempotency_key == "o1/1");
  BOOST_TEST(call.amount_cents == 1250);
  BOOST_TEST(call.card_token == "tok");
}

BOOST_AUTO_TEST_CASE(a_decided_attempt_is_reported_and_the_holds_it_makes_surplus_are_released) {
  std::vector<event> history{requested1, authorization_failed{"o1/1", "t", 1},
                             authorization_requested{1250, "tok", "o1/2", 2},
                             authorized{"o1/2", "psp-2"}};
  auto actions = reacting_to(history);
  BOOST_CHECK((calls_in(actions) == std::set<std::pair<psp_operation, std::string>>{
                                        {psp_operation::void_hold, "o1/1/void"}}));
  BOOST_REQUIRE(count_of<report_authorization>(actions) == 1u);
  const auto& report = std::get<report_authorization>(actions.back());
  BOOST_TEST(report.attempt == 2);
  BOOST_CHECK(report.outcome == psp_outcome::authorized);
  BOOST_TEST(report.psp_reference == "psp-2");
}

BOOST_AUTO_TEST_CASE(a_recorded_capture_is_made_at_the_psp_and_reported_once_confirmed) {
  auto actions = reacting_to(captured_payment);
  BOOST_REQUIRE(actions.size() == 1u);
  const auto& call = std::get<psp_request>(actions.front());
  BOOST_CHECK(call.operation == psp_operation::capture);
  BOOST_TEST(call.idempotency_key == "o1/capture");
  BOOST_TEST(call.reference == "psp-1");
  auto confirmed = captured_payment;
  confirmed.emplace_back(capture_confirmed{});
  BOOST_TEST(count_of<report_capture>(reacting_to(confirmed)) == 1u);
  // With a spare hold, the capture is reported once that hold is released.
  std::vector<event> spare{requested1,
                           authorization_failed{"o1/1", "t", 1},
                           authorization_requested{1250, "tok", "o1/2", 2},
                           authorized{"o1/2", "psp-2"},
                           captured{1250},
                           capture_confirmed{}};
  BOOST_TEST(count_of<report_capture>(reacting_to(spare)) == 0u);
  spare.emplace_back(hold_released{"o1/1"});
  BOOST_TEST(count_of<report_capture>(reacting_to(spare)) == 1u);
}

BOOST_AUTO_TEST_CASE(a_sales_outcome_and_its_reversal_are_reported_to_the_order) {
  auto sold_actions = reacting_to({sold{"o1/sale", "psp-1", 1250}});
  BOOST_REQUIRE(sold_actions.size() == 1u);
  BOOST_CHECK(std::get<report_authorization>(sold_actions.front()).outcome ==
              psp_outcome::authorized);
  auto declined_actions = reacting_to({sale_declined{"o1/sale", "nsf"}});
  BOOST_REQUIRE(declined_actions.size() == 1u);
  BOOST_TEST(std::get<report_authorization>(declined_actions.front()).reason == "nsf");
  BOOST_TEST(count_of<report_sale_reversed>(reacting_to({sale_reversed{"o1/sale"}})) == 1u);
}

BOOST_AUTO_TEST_CASE(
    a_recovered_payment_sends_again_what_it_waits_for_and_reports_what_it_decided) {
  BOOST_CHECK(
      (calls_in(resume(given({requested1}), "o1")) ==
       std::set<std::pair<psp_operation, std::string>>{{psp_operation::authorize, "o1/1"}}));
  BOOST_CHECK(
      (calls_in(resume(given(captured_payment), "o1")) ==
       std::set<std::pair<psp_operation, std::string>>{{psp_operation::capture, "o1/capture"}}));
  auto confirmed = captured_payment;
  confirmed.emplace_back(capture_confirmed{});
  BOOST_TEST(calls_in(resume(given(confirmed), "o1")).empty());
  BOOST_TEST(count_of<report_capture>(resume(given(confirmed), "o1")) == 1u);
  BOOST_TEST(count_of<report_authorization>(resume(given(authorized_payment), "o1")) == 1u);
  auto sale = resume(given({sold{"o1/sale", "psp-1", 1250}}), "o1");
  BOOST_REQUIRE(sale.size() == 1u);
  BOOST_CHECK(std::get<report_authorization>(sale.front()).outcome == psp_outcome::authorized);
  BOOST_TEST(resume(payment_state{}, "o1").empty());
}

BOOST_AUTO_TEST_CASE(a_refund_is_sent_again_until_the_psp_confirms_it) {
  auto refunding = captured_payment;
  refunding.emplace_back(capture_confirmed{});
  refunding.emplace_back(refunded{1250});
  auto s = given(refunding);
  BOOST_TEST(waiting_on_psp(s));
  BOOST_CHECK((calls_in(resume(s, "o1")) == std::set<std::pair<psp_operation, std::string>>{
                                                {psp_operation::refund, "o1/refund"}}));
  BOOST_CHECK(accepted_with(decide(s, record_refund_confirmed{}, ctx), {refund_confirmed{}}));
  s = apply(s, refund_confirmed{});
  BOOST_TEST(!waiting_on_psp(s));
  BOOST_TEST(calls_in(resume(s, "o1")).empty());
  BOOST_CHECK(accepted_with(decide(s, record_refund_confirmed{}, ctx), {}));
  BOOST_CHECK(accepted_with(decide(given(captured_payment), record_refund_confirmed{}, ctx), {}));
}

BOOST_AUTO_TEST_CASE(a_capture_refunded_before_the_psp_confirmed_it_is_made_first_then_refunded) {
  auto refunding = captured_payment;
  refunding.emplace_back(refunded{1250});
  // The capture may never have reached the PSP: it is made (again) before the refund.
  BOOST_CHECK(calls_in(reacting_to(refunding)).empty());
  BOOST_CHECK(
      (calls_in(resume(given(refunding), "o1")) ==
       std::set<std::pair<psp_operation, std::string>>{{psp_operation::capture, "o1/capture"}}));
  BOOST_TEST(waiting_on_psp(given(refunding)));
  refunding.emplace_back(capture_confirmed{});
  BOOST_CHECK((calls_in(reacting_to(refunding)) == std::set<std::pair<psp_operation, std::string>>{
                                                       {psp_operation::refund, "o1/refund"}}));
  BOOST_TEST(count_of<report_capture>(reacting_to(refunding)) == 0u);
}

/// "0 1 6": which alternative of `event` each one is, for failure messages.
std::string event_indices(const std::vector<event>& journal) {
  std::string out;
  for (const auto& ev : journal) {
    out += std::to_string(ev.index()) + " ";
  }
  return out;
}

/// The PSP calls that a payment living through `journal` made (its reactions) and whose answer
/// the journal does not hold: what the same payment restarted from that journal owes the PSP.
/// An authorization superseded by a newer attempt or by its own release is owed no more (an
/// attempt is released once the payment is decided).
std::set<std::pair<psp_operation, std::string>> unanswered(const std::vector<event>& journal) {
  std::set<std::pair<psp_operation, std::string>> calls;
  payment_state s;
  for (const auto& ev : journal) {
    s = apply(s, ev);
    std::visit(overloaded{
                   [&](const authorization_requested&) {
                     for (auto i = calls.begin(); i != calls.end();) {
                       i = i->first == psp_operation::authorize ? calls.erase(i) : std::next(i);
                     }
                   },
                   [&](const authorized& x) {
                     calls.erase({psp_operation::authorize, x.idempotency_key});
                   },
                   [&](const declined& x) { // nothing held: nothing to release either
                     calls.erase({psp_operation::authorize, x.idempotency_key});
                     calls.erase({psp_operation::void_hold, x.idempotency_key + "/void"});
                   },
                   [&](const authorization_failed& x) {
                     calls.erase({psp_operation::authorize, x.idempotency_key});
                   },
                   [&](const hold_released& x) { // holds nothing, never will
                     calls.erase({psp_operation::authorize, x.idempotency_key});
                     calls.erase({psp_operation::void_hold, x.idempotency_key + "/void"});
                   },
                   [&](const capture_confirmed&) {
                     calls.erase({psp_operation::capture, "o1/capture"});
                   },
                   [&](const refund_confirmed&) {
                     calls.erase({psp_operation::refund, "o1/refund"});
                   },
                   [&](const auto&) {},
               },
               ev);
    for (const auto& call : calls_in(reactions(s, ev, "o1"))) {
      calls.insert(call);
      if (call.first == psp_operation::void_hold) { // the release supersedes the authorization
        calls.erase({psp_operation::authorize, call.second.substr(0, call.second.size() - 5)});
      }
    }
  }
  return calls;
}

BOOST_AUTO_TEST_CASE(a_payment_restarted_from_its_journal_owes_the_psp_what_a_live_one_does) {
  // Random histories of the authorize-first path: attempts and their answers (late, repeated),
  // capture, capture confirmations, refund, void, releases. After every command, a payment
  // recovered from the journal so far must send again every call the live payment made and never
  // saw answered (resume), and must count as waiting on the PSP while one is owed (so that a
  // stalled call is sent again while it lives).
  for (uint64_t seed = 1; seed <= 2000; ++seed) {
    lcg rng{seed};
    std::vector<event> journal;
    auto run = [&](const command& c) {
      auto d = decide(given(journal), c, ctx);
      journal.insert(journal.end(), d.events.begin(), d.events.end());
    };
    const int steps = 3 + static_cast<int>(rng.next(14));
    for (int i = 0; i < steps; ++i) {
      const auto key = "o/" + std::to_string(1 + rng.next(3));
      const std::vector<command> choices{
          authorize{100, "tok", key},
          authorize{100, "tok", key},
          record_psp_result{key, static_cast<psp_outcome>(rng.next(3)), "psp-" + key, "r"},
          record_psp_result{key, static_cast<psp_outcome>(rng.next(3)), "psp-" + key, "r"},
          record_hold_released{key},
          capture{},
          record_capture_confirmed{},
          refund{},
          record_refund_confirmed{},
          void_authorization{}};
      run(choices[rng.next(static_cast<uint32_t>(choices.size()))]);
      auto owed = unanswered(journal);
      auto recovered = given(journal);
      auto resent = calls_in(resume(recovered, "o1"));
      for (const auto& call : owed) {
        BOOST_TEST_REQUIRE(resent.count(call) == 1u,
                           "seed " << seed << " step " << i << ": call "
                                   << static_cast<int>(call.first) << " " << call.second
                                   << " not sent again by a payment "
                                   << static_cast<int>(recovered.status) << " after events "
                                   << event_indices(journal));
      }
      BOOST_TEST_REQUIRE((owed.empty() || waiting_on_psp(recovered)),
                         "seed " << seed << " step " << i << ": owes the PSP, not waiting");
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(finishing)

BOOST_AUTO_TEST_CASE(a_payment_is_finished_once_decided_and_owing_the_psp_nothing) {
  auto with = [](std::vector<event> xs, const std::vector<event>& more) {
    xs.insert(xs.end(), more.begin(), more.end());
    return xs;
  };
  BOOST_CHECK(!finished(payment_state{}));
  // A sale: sold, declined or reversed.
  BOOST_CHECK(finished(given({sold{"o1/sale", "psp-1", 1250}})));
  BOOST_CHECK(finished(given({sale_declined{"o1/sale", "insufficient funds"}})));
  BOOST_CHECK(finished(given({sale_reversed{"o1/sale"}})));
  BOOST_CHECK(finished(given({sold{"o1/sale", "psp-1", 1250}, sale_reversed{"o1/sale"}})));
  // The older path: open or holding money for a capture is not finished.
  BOOST_CHECK(!finished(given({requested1})));
  BOOST_CHECK(!finished(given({requested1, authorization_failed{"o1/1", "503"}})));
  BOOST_CHECK(!finished(given(authorized_payment)));
  BOOST_CHECK(!finished(given(captured_payment))); // the PSP has not confirmed the capture
  BOOST_CHECK(finished(given(with(captured_payment, {capture_confirmed{}}))));
  BOOST_CHECK(!finished(given(with(captured_payment, {capture_confirmed{}, refunded{1250}}))));
  BOOST_CHECK(finished(
      given(with(captured_payment, {capture_confirmed{}, refunded{1250}, refund_confirmed{}}))));
  BOOST_CHECK(finished(given({requested1, declined{"o1/1", "insufficient funds"}})));
  BOOST_CHECK(finished(given(with(authorized_payment, {voided{}, hold_released{"o1/1"}}))));
}

BOOST_AUTO_TEST_SUITE_END()
