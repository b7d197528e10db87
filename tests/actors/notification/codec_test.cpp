#define BOOST_TEST_MODULE notification_codec
#include <boost/test/unit_test.hpp>

#include "actors/notification/codec.hpp"
#include "tests/actors/golden_file.hpp"

using namespace ordermesh::actors;
using namespace ordermesh::actors::notification;
using ordermesh::actors::testing::golden_text;
using ordermesh::actors::testing::same_json;

namespace {

const event example = notification_recorded{"order-1", terminal_status::cancelled};

} // namespace

BOOST_AUTO_TEST_CASE(every_status_survives_encode_then_decode) {
  for (auto status :
       {terminal_status::confirmed, terminal_status::rejected, terminal_status::cancelled}) {
    event ev = notification_recorded{"order-1", status};
    auto stored = encode(ev);
    BOOST_TEST(stored.type == wire::notification_recorded);
    auto back = decode(stored.type, stored.schema_version, stored.payload);
    BOOST_REQUIRE(back);
    BOOST_CHECK(*back == ev);
  }
}

BOOST_AUTO_TEST_CASE(the_golden_payload_decodes_to_the_expected_event) {
  auto back = decode(wire::notification_recorded, 1, golden_text(wire::notification_recorded));
  BOOST_REQUIRE(back);
  BOOST_CHECK(*back == example);
}

BOOST_AUTO_TEST_CASE(the_event_encodes_to_the_golden_payload) {
  BOOST_CHECK(same_json(encode(example).payload, golden_text(wire::notification_recorded)));
}

BOOST_AUTO_TEST_CASE(decode_refuses_unknown_types_versions_statuses_and_malformed_payloads) {
  BOOST_CHECK(!decode("notification.unknown.v1", 1, "{}"));
  BOOST_CHECK(!decode(wire::notification_recorded, 2, golden_text(wire::notification_recorded)));
  BOOST_CHECK(!decode(wire::notification_recorded, 1, R"({"order_id":"o","status":"lost"})"));
  BOOST_CHECK(!decode(wire::notification_recorded, 1, R"({"order_id":"o"})"));
}
