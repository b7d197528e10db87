#define BOOST_TEST_MODULE order_saga
#include <boost/test/unit_test.hpp>

#include "actors/order/state.hpp"

#include <vector>

using namespace ordermesh::actors;
using namespace ordermesh::actors::order;

namespace {

const decide_context ctx{1'700'000'000'000'000, 0.5};
const saga_policy policy{}; // 3 attempts, 2000 ms steps, 100 ms base backoff, 60 s reservations

using actions = std::vector<saga_action>;

/// An order actor without the actor: decides, records, and collects what the saga sends.
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

const actions fulfil_both{commit_stock{"apple"}, commit_stock{"pear"}, capture_payment{},
                          notify{order_status::confirmed}};

/// Given: an order with both lines reserved and authorization attempt 1 sent.
order_under_test reserved_order() {
  order_under_test o;
  o.handle(two_lines());
  o.handle(record_reservation{"apple", true, ""});
  o.handle(record_reservation{"pear", true, ""});
  return o;
}

} // namespace

BOOST_AUTO_TEST_CASE(the_happy_path_reserves_authorizes_commits_captures_and_confirms) {
  order_under_test o;
  BOOST_CHECK(o.handle(two_lines()) == reserve_both);
  BOOST_CHECK(o.handle(record_reservation{"apple", true, ""}).empty());
  BOOST_CHECK(o.handle(record_reservation{"pear", true, ""}) == authorize(1));
  BOOST_CHECK(o.handle(record_authorization{1, payment_outcome::authorized, "", "psp-1"}) ==
              fulfil_both);
  BOOST_CHECK(o.handle(record_capture{true}).empty());
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

BOOST_AUTO_TEST_CASE(out_of_stock_while_another_line_is_pending_releases_that_one_too) {
  order_under_test o;
  o.handle(two_lines());
  auto sent = o.handle(record_reservation{"apple", false, "out_of_stock"});
  BOOST_CHECK(sent == (actions{release_stock{"pear"}, notify{order_status::rejected}}));
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
              fulfil_both);
  BOOST_TEST(o.terminal_events() == 1);
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
  auto confirmed = with(retrying, {payment_authorized{"psp"}, order_confirmed{}});
  std::vector<event> rejected{placed, stock_reserved{"apple"},
                              stock_reservation_failed{"pear", "out_of_stock"},
                              order_rejected{"no pears"}};
  auto cancelled = with(reserved, {order_cancelled{"declined"}});
  const std::vector<step> steps{
      {{}, {}},
      {{placed}, reserve_both},
      {{placed, stock_reserved{"apple"}},
       {reserve_stock{"pear", 1, 60'000}, schedule_timeout{saga_step::reservation, 1, 2000}}},
      {reserved, authorize(1)},
      {failed_once, {schedule_timeout{saga_step::payment_retry, 1, 125}}},
      {retrying, authorize(2)},
      {confirmed, fulfil_both},
      {with(confirmed, {payment_captured{}}), {}},
      {rejected, {release_stock{"apple"}, notify{order_status::rejected}}},
      {with(rejected, {compensation_completed{}}), {}},
      {cancelled,
       {release_stock{"apple"}, release_stock{"pear"}, void_or_refund_payment{},
        notify{order_status::cancelled}}},
      {with(cancelled, {compensation_completed{}}), {}},
  };
  for (size_t i = 0; i < steps.size(); ++i) {
    auto recovered = apply_all(order_state{}, steps[i].journal);
    BOOST_CHECK_MESSAGE(saga_resume(recovered, policy, ctx) == steps[i].expected, "step " << i);
  }
}
