#define BOOST_TEST_MODULE payment_codec
#include <boost/test/unit_test.hpp>

#include "actors/payment/codec.hpp"
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
        {wire::authorized, authorized{"psp-42"}},
        {wire::declined, declined{"insufficient funds"}},
        {wire::authorization_failed, authorization_failed{"psp returned 503", 1}},
        {wire::captured, captured{1250}},
        {wire::refunded, refunded{1250}},
        {wire::voided, voided{}},
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
