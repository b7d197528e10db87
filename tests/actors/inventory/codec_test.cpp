#define BOOST_TEST_MODULE inventory_codec
#include <boost/test/unit_test.hpp>

#include "actors/inventory/codec.hpp"
#include "actors/inventory/state.hpp"
#include "tests/actors/golden_file.hpp"

#include <string>
#include <string_view>
#include <utility>
#include <vector>

using namespace ordermesh::actors;
using namespace ordermesh::actors::inventory;

namespace {

/// One example of every event, with its wire name; the golden files hold these values.
const ordermesh::actors::testing::codec_examples<event> codec{
    {
        {wire::restocked, restocked{100}},
        {wire::reserved, reserved{"order-1", 3, 1700000000500000}},
        {wire::reservation_rejected, reservation_rejected{"order-2", 5, 4, "out_of_stock"}},
        {wire::released, released{"order-1", 3}},
        {wire::committed, committed{"order-1", 3}},
        {wire::reservation_expired, reservation_expired{"order-3", 2}},
        {wire::returned, returned{"order-1", 3}},
        {wire::settled, settled{"order-1"}},
        {wire::orders_settled, orders_settled{{"order-1", "order-2"}}},
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
  BOOST_CHECK(!decode("inventory.unknown.v1", 1, "{}"));
  BOOST_CHECK(!decode(wire::restocked, 2, R"({"qty":1})"));
  BOOST_CHECK(!decode(wire::restocked, 1, R"({"qty":"one"})"));
  BOOST_CHECK(!decode(wire::restocked, 1, R"({})"));
  BOOST_CHECK(!decode(wire::restocked, 1, "not json"));
}

BOOST_AUTO_TEST_CASE(decode_snapshot_refuses_a_malformed_payload) {
  BOOST_CHECK(!decode_snapshot("{}"));
  BOOST_CHECK(!decode_snapshot("[1"));
}

BOOST_AUTO_TEST_CASE(a_snapshot_written_before_committed_quantities_were_recorded_still_loads) {
  auto old =
      decode_snapshot(R"({"on_hand":7,"reserved_qty":0,"reservations":{},"finished_order":["o1"],)"
                      R"("finished":{"o1":"committed"}})");
  BOOST_REQUIRE(old);
  BOOST_TEST(old->on_hand == 7);
  BOOST_TEST(old->committed_qty.empty());
  BOOST_TEST(old->known); // a SKU in use before `known` was recorded
  BOOST_TEST(!decode_snapshot(encode_snapshot(inventory_state{}))->known);
  // Its committed order is returned with the quantity the order line names.
  const std::vector<event> expected{returned{"o1", 3}};
  BOOST_CHECK(decide(*old, return_committed{"o1", 3}, decide_context{0, 0.0}).events == expected);
}

BOOST_AUTO_TEST_CASE(an_inventory_state_v1_snapshot_keeps_its_finished_orders_in_their_order) {
  auto v1 = decode_snapshot(ordermesh::actors::testing::golden_text("inventory.state.v1"));
  BOOST_REQUIRE(v1);
  std::vector<std::pair<std::string, finish>> finished;
  v1->finished.for_each(
      [&](std::string_view id, finish how) { finished.emplace_back(std::string{id}, how); });
  const std::vector<std::pair<std::string, finish>> expected{
      {"o2", finish::returned}, {"o1", finish::committed}, {"o3", finish::rejected}};
  BOOST_CHECK(finished == expected);
  BOOST_TEST(v1->reservations.count("held") == 1u);
  BOOST_TEST(v1->committed_qty.at("o1") == 3);
  const decide_context now{0, 0.0};
  BOOST_CHECK(decide(*v1, release{"o3"}, now).accepted());
  BOOST_CHECK(decide(*v1, reserve{"o2", 1, 500}, now).rejected);
  // Written again in the v2 shape, it reads back the same.
  auto v2 = decode_snapshot(encode_snapshot(*v1));
  BOOST_REQUIRE(v2);
  BOOST_CHECK(*v2 == *v1);
}

BOOST_AUTO_TEST_CASE(a_v1_snapshot_whose_finished_lists_disagree_is_refused) {
  BOOST_CHECK(!decode_snapshot(R"({"on_hand":7,"reserved_qty":0,"reservations":{},)"
                               R"("finished_order":["o1","o2"],"finished":{"o1":"committed"}})"));
  BOOST_CHECK(!decode_snapshot(R"({"on_hand":7,"reserved_qty":0,"reservations":{},)"
                               R"("finished_order":["o1"],"finished":{"o2":"committed"}})"));
  BOOST_CHECK(!decode_snapshot(R"({"on_hand":7,"reserved_qty":0,"reservations":{},)"
                               R"("finished_book":[["o1"]]})"));
}

BOOST_AUTO_TEST_CASE(a_snapshot_of_a_full_history_reads_back_equal_and_forgets_the_same_later) {
  auto s = apply(inventory_state{}, restocked{max_quantity});
  // Past the bound, with orders that ended twice (taken, then returned).
  for (size_t i = 0; i < max_finished_orders + 1'234; ++i) {
    auto id = "o" + std::to_string(i);
    s = apply(std::move(s), committed{id, 1});
    if (i % 97 == 0) {
      s = apply(std::move(s), returned{id, 1});
    } else {
      s = apply(std::move(s), settled{id});
    }
  }
  auto back = decode_snapshot(encode_snapshot(s));
  BOOST_REQUIRE(back);
  BOOST_CHECK(*back == s);
  // The same events after it leave the same state: the generations are where they were.
  std::vector<event> later;
  for (size_t i = 0; i < 1'500; ++i) {
    later.emplace_back(reservation_rejected{"r" + std::to_string(i), 2, 1, "out_of_stock"});
  }
  BOOST_CHECK(apply_all(*back, later) == apply_all(s, later));
}
