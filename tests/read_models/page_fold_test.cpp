#define BOOST_TEST_MODULE page_fold
#include <boost/test/unit_test.hpp>

#include "read_models/page_fold.hpp"

#include "actors/inventory/codec.hpp"
#include "actors/order/codec.hpp"

#include <algorithm>
#include <set>
#include <utility>
#include <variant>

using namespace ordermesh;
using namespace ordermesh::read_models;
namespace order = ordermesh::actors::order;
namespace inventory = ordermesh::actors::inventory;
using order::order_status;

namespace {

order_event_at on_order(const std::string& id, int64_t version, order::event ev) {
  return order_event_at{id, version, 1000 * version, std::move(ev)};
}

inventory_event_at on_sku(const std::string& sku, int64_t version, inventory::event ev) {
  return inventory_event_at{sku, version, 1000 * version, std::move(ev)};
}

order_row stored_order(const std::string& id, int64_t version,
                       std::vector<std::pair<std::string, line_reservation>> lines) {
  order_row row;
  row.order_id = id;
  row.customer_id = "c1";
  row.status = order_status::placed;
  row.amount_cents = 100;
  row.placed_at_us = 1;
  row.updated_at_us = 1;
  row.version = version;
  for (size_t i = 0; i < lines.size(); ++i) {
    row.lines.push_back({static_cast<int32_t>(i + 1), lines[i].first, 1, lines[i].second});
  }
  return row;
}

/// Every alternative of an aggregate's event variant (default values), as its codec writes it.
template <class Variant, class Encode, size_t... I>
std::vector<actors::encoded_event> each_event(Encode encode, std::index_sequence<I...>) {
  return {encode(Variant{std::in_place_index<I>})...};
}

template <class Variant, class Encode>
std::vector<actors::encoded_event> each_event(Encode encode) {
  return each_event<Variant>(encode, std::make_index_sequence<std::variant_size_v<Variant>>{});
}

} // namespace

BOOST_AUTO_TEST_SUITE(page_fold)

BOOST_AUTO_TEST_CASE(an_event_at_or_below_the_stored_version_changes_nothing) {
  stored_rows stored;
  stored.orders["o1"] = stored_order("o1", 3, {{"A", line_reservation::reserved}});
  stored.inventory["A"] = inventory_row{"A", 10, 2, 2, 5};
  stored.holds[hold_key{"A", "o1"}] = 2;

  auto rows = fold_page({on_order("o1", 1, order::order_placed{"o1", "c9", {{"B", 1}}, "t", 5}),
                         on_order("o1", 2, order::stock_reservation_failed{"A", "short"}),
                         on_order("o1", 3, order::order_rejected{"short"}),
                         on_sku("A", 1, inventory::restocked{10}),
                         on_sku("A", 2, inventory::committed{"o1", 2})},
                        stored);
  BOOST_TEST(rows.applied == 0u);
  BOOST_TEST(rows.orders.empty());
  BOOST_TEST(rows.lines.empty());
  BOOST_TEST(rows.inventory.empty());
  BOOST_TEST(rows.holds_set.empty());
  BOOST_TEST(rows.holds_cleared.empty());

  // The same events above the version do apply, each once.
  stored.orders["o1"].version = 1;
  stored.inventory["A"].version = 1;
  rows = fold_page({on_order("o1", 2, order::stock_reservation_failed{"A", "short"}),
                    on_order("o1", 3, order::order_rejected{"short"}),
                    on_order("o1", 3, order::order_confirmed{}),
                    on_sku("A", 2, inventory::committed{"o1", 2}),
                    on_sku("A", 2, inventory::restocked{99})},
                   stored);
  BOOST_TEST(rows.applied == 3u);
  BOOST_REQUIRE_EQUAL(rows.orders.size(), 1u);
  BOOST_TEST((rows.orders[0].status == order_status::rejected));
  BOOST_TEST(rows.orders[0].reason == "short");
  BOOST_TEST(rows.orders[0].version == 3);
  BOOST_TEST(rows.orders[0].updated_at_us == 3000);
  BOOST_REQUIRE_EQUAL(rows.inventory.size(), 1u);
  BOOST_TEST(rows.inventory[0].on_hand == 8);
  BOOST_TEST(rows.inventory[0].reserved == 0);
  BOOST_TEST(rows.inventory[0].version == 2);
}

BOOST_AUTO_TEST_CASE(a_placed_event_for_an_order_already_there_changes_nothing) {
  stored_rows stored;
  stored.orders["o1"] = stored_order("o1", 1, {{"A", line_reservation::pending}});
  auto rows =
      fold_page({on_order("o1", 5, order::order_placed{"o1", "c9", {{"B", 1}}, "t", 5})}, stored);
  BOOST_TEST(rows.applied == 0u);
  BOOST_TEST(rows.orders.empty());
}

BOOST_AUTO_TEST_CASE(an_order_reads_reserved_once_every_line_is_reserved) {
  auto rows =
      fold_page({on_order("o1", 1, order::order_placed{"o1", "c1", {{"A", 2}, {"B", 1}}, "t", 700}),
                 on_order("o1", 2, order::stock_reserved{"A"})},
                {});
  BOOST_REQUIRE_EQUAL(rows.orders.size(), 1u);
  BOOST_TEST((rows.orders[0].status == order_status::placed));
  BOOST_TEST(rows.orders[0].customer_id == "c1");
  BOOST_TEST(rows.orders[0].amount_cents == 700);
  BOOST_TEST(rows.orders[0].placed_at_us == 1000);
  BOOST_TEST(rows.orders[0].updated_at_us == 2000);
  // A new order writes all its lines.
  BOOST_REQUIRE_EQUAL(rows.lines.size(), 2u);
  BOOST_TEST(rows.lines[0].second.line_no == 1);
  BOOST_TEST((rows.lines[0].second.reservation == line_reservation::reserved));
  BOOST_TEST(rows.lines[1].second.sku == "B");
  BOOST_TEST(rows.lines[1].second.qty == 1);
  BOOST_TEST((rows.lines[1].second.reservation == line_reservation::pending));

  // The next page, from the stored row: B taken (reserved and committed at once) completes it.
  stored_rows stored;
  stored.orders["o1"] = rows.orders[0];
  rows = fold_page(
      {on_order("o1", 3, order::stock_committed{"B"}), on_order("o1", 4, order::sale_requested{1})},
      stored);
  BOOST_TEST(rows.applied == 2u);
  BOOST_REQUIRE_EQUAL(rows.orders.size(), 1u);
  BOOST_TEST((rows.orders[0].status == order_status::reserved));
  BOOST_TEST(rows.orders[0].version == 4);
  // Only the line that moved is written.
  BOOST_REQUIRE_EQUAL(rows.lines.size(), 1u);
  BOOST_TEST(rows.lines[0].second.sku == "B");

  // A failed line keeps the order placed; a terminal status is not overwritten by a line.
  stored.orders["o2"] =
      stored_order("o2", 1, {{"A", line_reservation::pending}, {"B", line_reservation::pending}});
  rows = fold_page({on_order("o2", 2, order::stock_reservation_failed{"A", "short"}),
                    on_order("o2", 3, order::stock_reserved{"B"})},
                   stored);
  BOOST_TEST((rows.orders.at(0).status == order_status::placed));
  stored.orders["o2"].status = order_status::cancelled;
  rows = fold_page({on_order("o2", 2, order::stock_reserved{"A"}),
                    on_order("o2", 3, order::stock_reserved{"B"})},
                   stored);
  BOOST_TEST((rows.orders.at(0).status == order_status::cancelled));
}

BOOST_AUTO_TEST_CASE(reserved_is_the_sum_of_the_holds_and_available_the_rest) {
  stored_rows stored;
  stored.inventory["A"] = inventory_row{"A", 10, 3, 4, 1};
  stored.holds[hold_key{"A", "old"}] = 3;
  auto rows = fold_page(
      {on_sku("A", 5, inventory::reserved{"o1", 2, 0}),
       on_sku("A", 6, inventory::reserved{"o2", 1, 0}),
       // A repeated reservation replaces the earlier one.
       on_sku("A", 7, inventory::reserved{"o2", 4, 0}),
       on_sku("A", 8, inventory::committed{"old", 3}), on_sku("A", 9, inventory::released{"o1", 2}),
       on_sku("B", 1, inventory::restocked{5}), on_sku("B", 2, inventory::reserved{"o3", 5, 0}),
       on_sku("B", 3, inventory::reservation_expired{"o3", 5}),
       on_sku("B", 4, inventory::returned{"o4", 2}),
       // Nothing held by o9: nothing to remove.
       on_sku("B", 5, inventory::released{"o9", 1})},
      stored);
  BOOST_TEST(rows.applied == 10u);
  BOOST_REQUIRE_EQUAL(rows.inventory.size(), 2u);
  const auto& a = rows.inventory[0];
  BOOST_TEST(a.sku == "A");
  BOOST_TEST(a.on_hand == 7);
  BOOST_TEST(a.reserved == 4);
  BOOST_TEST(a.available() == 3);
  BOOST_TEST(a.version == 9);
  BOOST_TEST(a.updated_at_us == 9000);
  const auto& b = rows.inventory[1];
  BOOST_TEST(b.sku == "B");
  BOOST_TEST(b.on_hand == 7);
  BOOST_TEST(b.reserved == 0);
  BOOST_TEST(b.available() == 7);
  // Holds written: o2's final one; cleared: the stored one that was committed. o1 and o3 came and
  // went within the page and o9 never held: nothing to write for them.
  BOOST_REQUIRE_EQUAL(rows.holds_set.size(), 1u);
  BOOST_TEST((rows.holds_set[0].first == hold_key{"A", "o2"}));
  BOOST_TEST(rows.holds_set[0].second == 4);
  BOOST_REQUIRE_EQUAL(rows.holds_cleared.size(), 1u);
  BOOST_TEST((rows.holds_cleared[0] == hold_key{"A", "old"}));
}

BOOST_AUTO_TEST_CASE(keys_name_each_touched_row_once_and_other_streams_are_left_out) {
  auto placed = order::encode(order::order_placed{"o1", "c1", {{"A", 1}}, "t", 1});
  std::vector<persistence::recorded_event> page{
      {1, "order/o1", 1, placed.type, placed.schema_version, placed.payload, "{}", 10, 1},
      {2, "counter/x", 1, "counter.added.v1", 1, R"({"amount":1})", "{}", 10, 1},
  };
  std::vector<projected_event> events;
  try {
    events = decode_page(page);
  } catch (const undecodable_event& e) {
    BOOST_FAIL(e.what());
  }
  BOOST_REQUIRE_EQUAL(events.size(), 1u);
  events.push_back(on_order("o1", 2, order::stock_reserved{"A"}));
  events.push_back(on_sku("A", 1, inventory::restocked{1}));
  events.push_back(on_sku("A", 2, inventory::reserved{"o1", 1, 0}));
  events.push_back(on_sku("A", 3, inventory::committed{"o1", 1}));
  auto keys = keys_of(events);
  BOOST_TEST(keys.order_ids == std::vector<std::string>{"o1"}, boost::test_tools::per_element());
  BOOST_TEST(keys.skus == std::vector<std::string>{"A"}, boost::test_tools::per_element());
  BOOST_REQUIRE_EQUAL(keys.holds.size(), 1u);
  BOOST_TEST((keys.holds[0] == hold_key{"A", "o1"}));

  page[0].payload = R"({"oops":1})";
  BOOST_CHECK_THROW(decode_page(page), undecodable_event);
}

BOOST_AUTO_TEST_CASE(rows_stored_before_the_page_are_updated_and_the_others_inserted) {
  // A plain INSERT of the new rows and an UPDATE of the stored ones cost PostgreSQL less than one
  // INSERT ... ON CONFLICT of both (its arbiter probes each key before inserting it).
  stored_rows stored;
  stored.orders["old"] = stored_order("old", 1, {{"A", line_reservation::pending}});
  stored.inventory["A"] = inventory_row{"A", 10, 0, 1, 5};
  auto rows =
      fold_page({on_order("new", 1, order::order_placed{"new", "c1", {{"B", 1}}, "t", 5}),
                 on_order("old", 2, order::sale_requested{1}),
                 on_sku("B", 1, inventory::restocked{3}), on_sku("A", 2, inventory::restocked{1})},
                stored);
  BOOST_REQUIRE_EQUAL(rows.orders.size(), 2u);
  BOOST_TEST(rows.orders[0].order_id == "new");
  BOOST_TEST(rows.orders[1].order_id == "old");
  BOOST_TEST(rows.order_stored == (std::vector<bool>{false, true}),
             boost::test_tools::per_element());
  BOOST_REQUIRE_EQUAL(rows.lines.size(), 2u);
  BOOST_TEST(rows.lines[0].first == "new");
  BOOST_TEST(rows.lines[1].first == "old");
  BOOST_TEST(rows.line_stored == (std::vector<bool>{false, true}),
             boost::test_tools::per_element());
  BOOST_REQUIRE_EQUAL(rows.inventory.size(), 2u);
  BOOST_TEST(rows.inventory[0].sku == "B");
  BOOST_TEST(rows.inventory_stored == (std::vector<bool>{false, true}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(only_holds_of_skus_that_hold_units_are_read) {
  // A hold is stored only with units (a reservation holds at least one) and `reserved` is the sum
  // of the SKU's holds, so a SKU with no row or nothing reserved has no hold to read.
  std::unordered_map<std::string, inventory_row> stock{
      {"held", inventory_row{"held", 10, 3, 4, 1}}, {"free", inventory_row{"free", 10, 0, 4, 1}}};
  const std::vector<hold_key> touched{
      {"held", "o1"}, {"free", "o1"}, {"new", "o2"}, {"held", "o3"}};
  const auto read = holds_to_read(touched, stock);
  BOOST_REQUIRE_EQUAL(read.size(), 2u);
  BOOST_TEST((read[0] == hold_key{"held", "o1"}));
  BOOST_TEST((read[1] == hold_key{"held", "o3"}));
}

BOOST_AUTO_TEST_CASE(the_projection_reads_every_event_type_the_fold_handles_and_no_other) {
  // The fold handles every alternative of the order and inventory event variants (std::visit),
  // each decoded from its aggregate's streams.
  const auto orders =
      each_event<order::event>([](const order::event& ev) { return order::encode(ev); });
  const auto stock = each_event<inventory::event>(
      [](const inventory::event& ev) { return inventory::encode(ev); });
  std::vector<persistence::recorded_event> page;
  std::vector<std::string> handled;
  for (const auto& [stream, events] :
       {std::pair{"order/o1", &orders}, std::pair{"inventory/A", &stock}}) {
    for (const auto& ev : *events) {
      page.push_back({static_cast<int64_t>(page.size() + 1), stream,
                      static_cast<int64_t>(page.size() + 1), ev.type, ev.schema_version, ev.payload,
                      "", 10, 1});
      handled.push_back(ev.type);
    }
  }
  BOOST_TEST(decode_page(page).size() == page.size());
  std::sort(handled.begin(), handled.end());
  auto read = folded_types();
  std::sort(read.begin(), read.end());
  // Each once, and exactly those (a v2 wire name would add its v1 here, still read).
  BOOST_TEST(std::set<std::string>(read.begin(), read.end()).size() == read.size());
  BOOST_TEST(read == handled, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(a_sale_request_with_no_taken_lines_before_it_shows_every_line_reserved) {
  // The current binary records no event per taken line: sale_requested says every line is taken.
  stored_rows stored;
  stored.orders["o1"] =
      stored_order("o1", 1, {{"A", line_reservation::pending}, {"B", line_reservation::pending}});
  auto rows = fold_page({on_order("o1", 2, order::sale_requested{1})}, stored);
  BOOST_REQUIRE_EQUAL(rows.orders.size(), 1u);
  BOOST_TEST((rows.orders[0].status == order_status::reserved));
  BOOST_REQUIRE_EQUAL(rows.lines.size(), 2u);
  BOOST_TEST((rows.lines[0].second.reservation == line_reservation::reserved));
  BOOST_TEST((rows.lines[1].second.reservation == line_reservation::reserved));
}

BOOST_AUTO_TEST_CASE(an_order_confirmed_straight_from_placed_shows_its_sold_lines_taken) {
  // The first sale is recorded by no event: order.confirmed{skus} follows order.placed.
  stored_rows stored;
  stored.orders["o1"] =
      stored_order("o1", 1, {{"A", line_reservation::pending}, {"B", line_reservation::pending}});
  auto rows = fold_page({on_order("o1", 2, order::order_confirmed{{"A", "B"}})}, stored);
  BOOST_REQUIRE_EQUAL(rows.orders.size(), 1u);
  BOOST_TEST((rows.orders[0].status == order_status::confirmed));
  BOOST_TEST(rows.orders[0].version == 2);
  BOOST_REQUIRE_EQUAL(rows.lines.size(), 2u);
  BOOST_TEST((rows.lines[0].second.reservation == line_reservation::reserved));
  BOOST_TEST((rows.lines[1].second.reservation == line_reservation::reserved));
  // Cancelled straight from placed: the status and reason, the lines as they were.
  stored.orders["o2"] = stored_order("o2", 1, {{"A", line_reservation::pending}});
  rows = fold_page({on_order("o2", 2, order::order_cancelled{"payment declined: x"})}, stored);
  BOOST_REQUIRE_EQUAL(rows.orders.size(), 1u);
  BOOST_TEST((rows.orders[0].status == order_status::cancelled));
  BOOST_TEST(rows.orders[0].reason == "payment declined: x");
}

BOOST_AUTO_TEST_SUITE_END()
