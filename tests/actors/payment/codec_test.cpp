#define BOOST_TEST_MODULE payment_codec
#include <boost/test/unit_test.hpp>

#include "actors/payment/codec.hpp"
#include "actors/payment/state.hpp"
#include "tests/actors/golden_file.hpp"

#include <utility>
#include <vector>

using namespace ordermesh::actors;
using namespace ordermesh::actors::payment;

namespace {

/// One example of every event, with its wire name; the golden files hold these values.
const ordermesh::actors::testing::codec_examples<event> codec{
    {
        {wire::authorization_requested, authorization_requested{1250, "tok_visa", "order-1/2", 2}},
        {wire::authorized, authorized{"order-1/2", "psp-42"}},
        {wire::declined, declined{"order-1/2", "insufficient funds"}},
        {wire::authorization_failed, authorization_failed{"order-1/1", "psp returned 503", 1}},
        {wire::hold_released, hold_released{"order-1/1"}},
        {wire::captured, captured{1250}},
        {wire::capture_confirmed, capture_confirmed{}},
        {wire::refunded, refunded{1250}},
        {wire::refund_confirmed, refund_confirmed{}},
        {wire::voided, voided{}},
        {wire::sold, sold{"order-1/sale", "auth_42", 1250}},
        {wire::sale_declined, sale_declined{"order-1/sale", "insufficient_funds"}},
        {wire::sale_reversed, sale_reversed{"order-1/sale"}},
    },
    encode,
    decode};

} // namespace

BOOST_AUTO_TEST_CASE(every_event_survives_encode_then_decode) {
  BOOST_TEST(codec.examples.size() == std::variant_size_v<event>);
  codec.check_round_trips();
}

BOOST_AUTO_TEST_CASE(golden_payloads_decode_to_the_expected_events) {
  codec.check_golden_payloads_decode();
}

BOOST_AUTO_TEST_CASE(events_encode_to_the_golden_payloads) {
  codec.check_events_encode_to_golden_payloads();
}

BOOST_AUTO_TEST_CASE(decode_refuses_unknown_types_versions_and_malformed_payloads) {
  BOOST_CHECK(!decode("payment.unknown.v1", 1, "{}"));
  BOOST_CHECK(!decode(wire::captured, 2, R"({"amount_cents":1})"));
  BOOST_CHECK(!decode(wire::captured, 1, R"({"amount_cents":"1"})"));
  BOOST_CHECK(!decode(wire::voided, 1, "null"));
}

BOOST_AUTO_TEST_CASE(v1_attempt_results_still_decode_without_a_key) {
  using ordermesh::actors::testing::golden_text;
  auto a = decode(wire::authorized_v1, 1, golden_text(wire::authorized_v1));
  BOOST_REQUIRE(a);
  BOOST_CHECK((*a == event{authorized{"", "psp-42"}}));
  auto d = decode(wire::declined_v1, 1, golden_text(wire::declined_v1));
  BOOST_REQUIRE(d);
  BOOST_CHECK((*d == event{declined{"", "insufficient funds"}}));
  auto f = decode(wire::authorization_failed_v1, 1, golden_text(wire::authorization_failed_v1));
  BOOST_REQUIRE(f);
  BOOST_CHECK((*f == event{authorization_failed{"", "psp returned 503", 1}}));
}

BOOST_AUTO_TEST_CASE(a_snapshot_written_before_attempts_were_kept_names_its_latest_attempt) {
  using ordermesh::actors::testing::golden_text;
  auto s = decode_snapshot(golden_text("payment.state.v1"));
  BOOST_REQUIRE(s);
  BOOST_CHECK(s->status == payment_status::authorized);
  BOOST_CHECK(s->authorized_key == "order-1/authorize/2");
  BOOST_REQUIRE_EQUAL(s->attempts.size(), 1u);
  BOOST_CHECK(s->attempts[0].number == 2);
  BOOST_CHECK(s->attempts[0].idempotency_key == "order-1/authorize/2");
  BOOST_CHECK(s->attempts[0].status == attempt_status::authorized);
  BOOST_CHECK(s->attempts[0].psp_reference == "psp-42");
  // Voided then, with the hold the stand-in never released: the new code releases it by its key.
  auto voided_then = payment::apply(*s, event{voided{}});
  BOOST_CHECK(holds_to_release(voided_then) == std::vector<std::string>{"order-1/authorize/2"});
}

BOOST_AUTO_TEST_CASE(an_old_snapshot_waiting_on_the_psp_still_records_the_answer) {
  auto s =
      decode_snapshot(R"({"status":"requested","amount_cents":5,"card_token":"tok_visa",)"
                      R"("idempotency_key":"o/1","attempt":1,"psp_reference":"","reason":""})");
  BOOST_REQUIRE(s);
  auto d = decide(*s, record_psp_result{"o/1", psp_outcome::authorized, "p-1", ""}, {});
  BOOST_REQUIRE(d.accepted());
  BOOST_REQUIRE_EQUAL(d.events.size(), 1u);
  auto after = payment::apply(*s, d.events.front());
  BOOST_CHECK(after.status == payment_status::authorized);
  BOOST_CHECK(after.authorized_key == "o/1");
}

BOOST_AUTO_TEST_CASE(an_old_snapshot_whose_attempt_failed_releases_it_once_voided) {
  auto s =
      decode_snapshot(R"({"status":"failed","amount_cents":5,"card_token":"tok_visa",)"
                      R"("idempotency_key":"o/1","attempt":1,"psp_reference":"","reason":"503"})");
  BOOST_REQUIRE(s);
  BOOST_REQUIRE_EQUAL(s->attempts.size(), 1u);
  BOOST_CHECK(s->attempts[0].status == attempt_status::failed);
  BOOST_CHECK(holds_to_release(payment::apply(*s, event{voided{}})) ==
              std::vector<std::string>{"o/1"});
}

BOOST_AUTO_TEST_CASE(a_snapshot_with_attempts_survives_encode_then_decode) {
  payment_state s;
  s.status = payment_status::voided;
  s.attempt = 2;
  s.authorized_key = "o/2";
  s.attempts = {{1, "o/1", attempt_status::failed, ""}, {2, "o/2", attempt_status::released, "p"}};
  auto back = decode_snapshot(encode_snapshot(s));
  BOOST_REQUIRE(back);
  BOOST_CHECK(*back == s);
}
