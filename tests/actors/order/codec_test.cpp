#define BOOST_TEST_MODULE order_codec
#include <boost/test/unit_test.hpp>

#include "actors/order/codec.hpp"
#include "tests/actors/golden_file.hpp"

#include <utility>
#include <vector>

using namespace ordermesh::actors;
using namespace ordermesh::actors::order;

namespace {

/// One example of every event, with its wire name; the golden files hold these values.
const ordermesh::actors::testing::codec_examples<event> codec{
    {
        {wire::order_placed,
         order_placed{
             "order-1", "customer-7", {{"sku-apple", 2}, {"sku-pear", 1}}, "tok_visa", 1250}},
        {wire::stock_reserved, stock_reserved{"sku-apple"}},
        {wire::stock_reservation_failed, stock_reservation_failed{"sku-pear", "out_of_stock"}},
        {wire::payment_requested, payment_requested{2}},
        {wire::payment_authorized, payment_authorized{"psp-42"}},
        {wire::payment_attempt_failed, payment_attempt_failed{1, "timed out"}},
        {wire::stock_commit_requested, stock_commit_requested{2}},
        {wire::stock_committed, stock_committed{"sku-apple"}},
        {wire::stock_commit_failed, stock_commit_failed{1, "sku-apple: overloaded"}},
        {wire::stock_commit_refused, stock_commit_refused{"sku-pear", "reservation_expired"}},
        {wire::order_confirmed, order_confirmed{{"apple", "pear"}}},
        {wire::order_rejected, order_rejected{"not enough stock of sku-pear"}},
        {wire::order_cancelled, order_cancelled{"payment declined: insufficient funds"}},
        {wire::payment_captured, payment_captured{}},
        {wire::compensation_completed, compensation_completed{}},
        {wire::sale_requested, sale_requested{2}},
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
  BOOST_CHECK(!decode("order.unknown.v1", 1, "{}"));
  BOOST_CHECK(!decode(wire::order_confirmed, 2, "{}"));
  BOOST_CHECK(!decode(wire::order_confirmed, 1, R"({"skus":"apple"})"));
  BOOST_CHECK(!decode(wire::order_confirmed, 1, "[]"));
  BOOST_CHECK(!decode(wire::order_placed, 1, R"({"order_id":"o"})"));
  BOOST_CHECK(!decode(wire::payment_requested, 1, R"({"attempt":"two"})"));
}

// Recorded by the binary before the settlement runner: no SKUs, so its saga settles its lines.
BOOST_AUTO_TEST_CASE(a_confirmation_stored_without_skus_decodes_as_confirmed_without_skus) {
  auto back = decode(wire::order_confirmed, 1, "{}");
  BOOST_REQUIRE(back.has_value());
  BOOST_CHECK(*back == event{order_confirmed{}});
  BOOST_TEST(encode(order_confirmed{}).payload == "{}");
}
