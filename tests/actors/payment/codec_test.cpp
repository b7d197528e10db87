#define BOOST_TEST_MODULE payment_codec
#include <boost/test/unit_test.hpp>

#include "actors/payment/codec.hpp"
#include "tests/actors/golden_file.hpp"

#include <utility>
#include <vector>

using namespace ordermesh::actors;
using namespace ordermesh::actors::payment;
using ordermesh::actors::testing::golden_text;
using ordermesh::actors::testing::same_json;

namespace {

/// One example of every event, with its wire name; the golden files hold these values.
const std::vector<std::pair<const char*, event>> examples = {
    {wire::authorization_requested, authorization_requested{1250, "tok_visa", "order-1/2", 2}},
    {wire::authorized, authorized{"psp-42"}},
    {wire::declined, declined{"insufficient funds"}},
    {wire::authorization_failed, authorization_failed{"psp returned 503", 1}},
    {wire::captured, captured{1250}},
    {wire::refunded, refunded{1250}},
    {wire::voided, voided{}},
};

} // namespace

BOOST_AUTO_TEST_CASE(every_event_survives_encode_then_decode) {
  BOOST_TEST(examples.size() == std::variant_size_v<event>);
  for (const auto& [name, ev] : examples) {
    auto stored = encode(ev);
    BOOST_TEST(stored.type == name);
    BOOST_TEST(stored.schema_version == 1);
    auto back = decode(stored.type, stored.schema_version, stored.payload);
    BOOST_REQUIRE_MESSAGE(back, name);
    BOOST_CHECK_MESSAGE(*back == ev, name);
  }
}

BOOST_AUTO_TEST_CASE(golden_payloads_decode_to_the_expected_events) {
  for (const auto& [name, ev] : examples) {
    auto back = decode(name, 1, golden_text(name));
    BOOST_REQUIRE_MESSAGE(back, name);
    BOOST_CHECK_MESSAGE(*back == ev, name);
  }
}

BOOST_AUTO_TEST_CASE(events_encode_to_the_golden_payloads) {
  for (const auto& [name, ev] : examples) {
    BOOST_CHECK_MESSAGE(same_json(encode(ev).payload, golden_text(name)), name);
  }
}

BOOST_AUTO_TEST_CASE(decode_refuses_unknown_types_versions_and_malformed_payloads) {
  BOOST_CHECK(!decode("payment.unknown.v1", 1, "{}"));
  BOOST_CHECK(!decode(wire::captured, 2, R"({"amount_cents":1})"));
  BOOST_CHECK(!decode(wire::captured, 1, R"({"amount_cents":"1"})"));
  BOOST_CHECK(!decode(wire::voided, 1, "null"));
}
