#define BOOST_TEST_MODULE inventory_state
#include <boost/test/unit_test.hpp>

#include "actors/inventory/codec.hpp"
#include "actors/inventory/state.hpp"

#include <algorithm>
#include <random>
#include <string>
#include <vector>

using namespace ordermesh::actors;
using namespace ordermesh::actors::inventory;

namespace {

constexpr int64_t t0 = 1'700'000'000'000'000;
const decide_context at_t0{t0, 0.0};

decide_context at(int64_t now_us) {
  return decide_context{now_us, 0.0};
}

/// Given: the state these events leave.
inventory_state given(const std::vector<event>& events) {
  return apply_all(inventory_state{}, events);
}

bool rejected_with(const inventory_decision& d, inventory_errc code) {
  return d.rejected && d.rejected->code == static_cast<uint8_t>(code) && d.events.empty();
}

bool accepted_with(const inventory_decision& d, const std::vector<event>& events) {
  return d.accepted() && d.events == events;
}

} // namespace

BOOST_AUTO_TEST_SUITE(restocking)

BOOST_AUTO_TEST_CASE(restock_adds_to_the_stock_on_hand) {
  auto d = decide(given({restocked{5}}), restock{10}, at_t0);
  BOOST_CHECK(accepted_with(d, {restocked{10}}));
  auto s = apply_all(given({restocked{5}}), d.events);
  BOOST_TEST(s.on_hand == 15);
  BOOST_TEST(s.available() == 15);
}

BOOST_AUTO_TEST_CASE(rejects_a_restock_of_zero_negative_or_absurd_quantity) {
  for (int64_t qty : {int64_t{0}, int64_t{-1}, max_quantity + 1}) {
    BOOST_CHECK(rejected_with(decide({}, restock{qty}, at_t0), inventory_errc::invalid_quantity));
  }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(reserving)

BOOST_AUTO_TEST_CASE(reserves_available_stock_until_the_ttl_runs_out) {
  auto d = decide(given({restocked{10}}), reserve{"o1", 3, 500}, at_t0);
  BOOST_CHECK(accepted_with(d, {reserved{"o1", 3, t0 + 500'000}}));
  auto s = apply_all(given({restocked{10}}), d.events);
  BOOST_TEST(s.on_hand == 10);
  BOOST_TEST(s.available() == 7);
  BOOST_TEST(s.reservations.at("o1").qty == 3);
}

BOOST_AUTO_TEST_CASE(refuses_a_reservation_of_a_sku_that_was_never_restocked_as_unknown_sku) {
  const auto d = decide(inventory_state{}, reserve{"o1", 1, 500}, at_t0);
  BOOST_TEST_REQUIRE(rejected_with(d, inventory_errc::unknown_sku));
  BOOST_TEST(d.rejected->reason == to_string(inventory_errc::unknown_sku));
  // Once restocked, even when it is all sold, the SKU is known: a lack of stock is out_of_stock.
  auto sold_out = given({restocked{1}, reserved{"o0", 1, t0 + 500'000}, committed{"o0", 1}});
  BOOST_CHECK(accepted_with(decide(sold_out, reserve{"o1", 1, 500}, at_t0),
                            {reservation_rejected{"o1", 1, 0, "out_of_stock"}}));
}

BOOST_AUTO_TEST_CASE(records_a_rejection_for_a_reservation_larger_than_the_stock) {
  auto d = decide(given({restocked{2}}), reserve{"o1", 3, 500}, at_t0);
  BOOST_CHECK(accepted_with(d, {reservation_rejected{"o1", 3, 2, "out_of_stock"}}));
  auto s = apply_all(given({restocked{2}}), d.events);
  BOOST_TEST(s.available() == 2);
  BOOST_CHECK(s.finished.find("o1") == finish::rejected);
}

BOOST_AUTO_TEST_CASE(answers_a_redelivered_rejected_reserve_with_out_of_stock_and_no_event) {
  auto s = given({restocked{2}, reservation_rejected{"o1", 3, 2, "out_of_stock"}, restocked{10}});
  BOOST_CHECK(rejected_with(decide(s, reserve{"o1", 3, 500}, at_t0), inventory_errc::out_of_stock));
}

BOOST_AUTO_TEST_CASE(a_second_reserve_for_the_same_order_is_idempotent) {
  auto s = given({restocked{10}, reserved{"o1", 3, t0 + 1}});
  BOOST_CHECK(accepted_with(decide(s, reserve{"o1", 3, 500}, at_t0), {}));
  BOOST_CHECK(
      accepted_with(decide(given({restocked{10}, reserved{"o1", 3, t0 + 1}, committed{"o1", 3}}),
                           reserve{"o1", 3, 500}, at_t0),
                    {}));
}

BOOST_AUTO_TEST_CASE(rejects_a_reserve_of_a_released_or_expired_order) {
  auto s = given({restocked{10}, reserved{"o1", 3, t0}, released{"o1", 3}, reserved{"o2", 1, t0},
                  reservation_expired{"o2", 1}});
  BOOST_CHECK(
      rejected_with(decide(s, reserve{"o1", 3, 500}, at_t0), inventory_errc::reservation_closed));
  BOOST_CHECK(
      rejected_with(decide(s, reserve{"o2", 1, 500}, at_t0), inventory_errc::reservation_expired));
}

BOOST_AUTO_TEST_CASE(rejects_a_reserve_with_an_invalid_quantity_or_ttl) {
  auto s = given({restocked{10}});
  BOOST_CHECK(
      rejected_with(decide(s, reserve{"o1", 0, 500}, at_t0), inventory_errc::invalid_quantity));
  BOOST_CHECK(rejected_with(decide(s, reserve{"o1", max_quantity + 1, 500}, at_t0),
                            inventory_errc::invalid_quantity));
  BOOST_CHECK(rejected_with(decide(s, reserve{"o1", 1, 0}, at_t0), inventory_errc::invalid_ttl));
}

BOOST_AUTO_TEST_CASE(a_flash_sale_of_2000_buyers_for_100_units_sells_exactly_100) {
  // Given one writer deciding and applying each command in turn.
  auto s = given({restocked{100}});
  int reservations = 0;
  int rejections = 0;
  for (int i = 0; i < 2000; ++i) {
    auto d = decide(s, reserve{"order-" + std::to_string(i), 1, 60'000}, at_t0);
    BOOST_REQUIRE(d.accepted());
    BOOST_REQUIRE_EQUAL(d.events.size(), 1u);
    reservations += std::holds_alternative<reserved>(d.events[0]);
    rejections += std::holds_alternative<reservation_rejected>(d.events[0]);
    s = apply_all(std::move(s), d.events);
    BOOST_REQUIRE_GE(s.available(), 0);
  }
  BOOST_TEST(reservations == 100);
  BOOST_TEST(rejections == 1900);
  BOOST_TEST(s.available() == 0);
  BOOST_TEST(s.reserved_qty == 100);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(releasing_and_committing)

BOOST_AUTO_TEST_CASE(release_gives_the_units_back) {
  auto s = given({restocked{10}, reserved{"o1", 3, t0 + 1}});
  auto d = decide(s, release{"o1"}, at_t0);
  BOOST_CHECK(accepted_with(d, {released{"o1", 3}}));
  s = apply_all(s, d.events);
  BOOST_TEST(s.available() == 10);
  BOOST_TEST(s.reservations.empty());
}

BOOST_AUTO_TEST_CASE(commit_takes_the_units_out_of_the_stock_on_hand) {
  auto s = given({restocked{10}, reserved{"o1", 3, t0 + 1}});
  auto d = decide(s, commit{"o1"}, at_t0);
  BOOST_CHECK(accepted_with(d, {committed{"o1", 3}}));
  s = apply_all(s, d.events);
  BOOST_TEST(s.on_hand == 7);
  BOOST_TEST(s.available() == 7);
}

BOOST_AUTO_TEST_CASE(release_of_a_finished_order_is_an_idempotent_success) {
  auto s = given({restocked{10}, reserved{"a", 1, t0}, released{"a", 1}, reserved{"b", 1, t0},
                  committed{"b", 1}, reserved{"c", 1, t0}, reservation_expired{"c", 1},
                  reservation_rejected{"d", 99, 9, "out_of_stock"}});
  for (std::string id : {"a", "b", "c", "d"}) {
    BOOST_CHECK(accepted_with(decide(s, release{id}, at_t0), {}));
  }
  BOOST_CHECK(accepted_with(decide(s, commit{"b"}, at_t0), {}));
}

BOOST_AUTO_TEST_CASE(rejects_release_and_commit_of_an_unknown_reservation) {
  auto s = given({restocked{10}});
  BOOST_CHECK(
      rejected_with(decide(s, release{"nope"}, at_t0), inventory_errc::unknown_reservation));
  BOOST_CHECK(rejected_with(decide(s, commit{"nope"}, at_t0), inventory_errc::unknown_reservation));
}

BOOST_AUTO_TEST_CASE(rejects_commit_of_an_expired_or_overdue_reservation) {
  auto s = given({restocked{10}, reserved{"late", 1, t0}, reserved{"gone", 1, t0},
                  reservation_expired{"gone", 1}});
  BOOST_CHECK(
      rejected_with(decide(s, commit{"late"}, at(t0)), inventory_errc::reservation_expired));
  BOOST_CHECK(
      rejected_with(decide(s, commit{"gone"}, at(t0)), inventory_errc::reservation_expired));
}

BOOST_AUTO_TEST_CASE(rejects_commit_of_a_released_reservation) {
  auto s = given({restocked{10}, reserved{"o1", 1, t0}, released{"o1", 1}});
  BOOST_CHECK(rejected_with(decide(s, commit{"o1"}, at_t0), inventory_errc::reservation_closed));
}

BOOST_AUTO_TEST_CASE(remembers_at_most_10000_finished_orders_and_forgets_the_oldest_1000_at_once) {
  std::vector<event> events{restocked{1}};
  for (size_t i = 0; i < max_finished_orders; ++i) {
    events.emplace_back(reservation_rejected{"o" + std::to_string(i), 2, 1, "out_of_stock"});
  }
  auto s = given(events);
  BOOST_TEST(s.finished.size() == max_finished_orders);
  BOOST_CHECK(s.finished.find("o0") == finish::rejected);
  // One more: the oldest generation goes.
  s = apply(s,
            reservation_rejected{"o" + std::to_string(max_finished_orders), 2, 1, "out_of_stock"});
  BOOST_TEST(s.finished.size() == max_finished_orders - finished_generation + 1);
  BOOST_TEST(!s.finished.find("o0"));
  BOOST_TEST(!s.finished.find("o" + std::to_string(finished_generation - 1)));
  BOOST_CHECK(s.finished.find("o" + std::to_string(finished_generation)) == finish::rejected);
  BOOST_CHECK(rejected_with(decide(s, release{"o0"}, at_t0), inventory_errc::unknown_reservation));
  BOOST_CHECK(
      rejected_with(decide(s, reserve{"o" + std::to_string(finished_generation), 1, 500}, at_t0),
                    inventory_errc::out_of_stock));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(taking_units_without_a_reservation)

BOOST_AUTO_TEST_CASE(a_take_commits_available_units_at_once_and_a_repeat_changes_nothing) {
  auto d = decide(given({restocked{10}}), commit{"o1", 3}, at_t0);
  BOOST_CHECK(accepted_with(d, {committed{"o1", 3}}));
  auto s = apply_all(given({restocked{10}}), d.events);
  BOOST_TEST(s.on_hand == 7);
  BOOST_TEST(s.reserved_qty == 0);
  BOOST_CHECK(accepted_with(decide(s, commit{"o1", 3}, at_t0), {}));
  BOOST_CHECK(accepted_with(decide(s, return_committed{"o1", 3}, at_t0), {returned{"o1", 3}}));
}

BOOST_AUTO_TEST_CASE(a_take_beyond_the_available_units_is_rejected_and_remembered) {
  auto s = given({restocked{5}, reserved{"o0", 3, t0 + 5}});
  auto d = decide(s, commit{"o1", 3}, at_t0);
  BOOST_CHECK(accepted_with(d, {reservation_rejected{"o1", 3, 2, "out_of_stock"}}));
  s = apply_all(s, d.events);
  BOOST_CHECK(rejected_with(decide(s, commit{"o1", 3}, at_t0), inventory_errc::out_of_stock));
  BOOST_TEST(s.available() == 2);
}

BOOST_AUTO_TEST_CASE(a_take_of_an_order_holding_a_reservation_commits_the_held_units) {
  auto s = given({restocked{10}, reserved{"o1", 2, t0 + 5}});
  BOOST_CHECK(accepted_with(decide(s, commit{"o1", 3}, at_t0), {committed{"o1", 2}}));
}

BOOST_AUTO_TEST_CASE(a_take_whose_own_older_hold_expired_takes_fresh_stock) {
  // An order the older binary placed reserved here unseen; its hold ran out before the new
  // binary's take arrived: the take is a new take, not "reservation expired".
  auto overdue = given({restocked{3}, reserved{"o1", 2, t0}});
  auto d = decide(overdue, commit{"o1", 3}, at(t0));
  BOOST_CHECK(accepted_with(d, {reservation_expired{"o1", 2}, committed{"o1", 3}}));
  auto s = apply_all(overdue, d.events);
  BOOST_TEST(s.on_hand == 0);
  BOOST_TEST(s.reserved_qty == 0);
  BOOST_TEST(s.available() == 0);

  auto expired = given({restocked{3}, reserved{"o2", 2, t0}, reservation_expired{"o2", 2}});
  d = decide(expired, commit{"o2", 3}, at(t0));
  BOOST_CHECK(accepted_with(d, {committed{"o2", 3}}));
  s = apply_all(expired, d.events);
  BOOST_TEST(s.available() == 0);
  BOOST_CHECK(accepted_with(decide(s, commit{"o2", 3}, at(t0)), {}));
  BOOST_CHECK(accepted_with(decide(s, return_committed{"o2", 3}, at(t0)), {returned{"o2", 3}}));

  // Fresh stock only: beyond it the take is rejected like any other.
  auto short_stock = given({restocked{3}, reserved{"o3", 1, t0}, reserved{"x", 2, t0 + 5}});
  BOOST_CHECK(accepted_with(
      decide(short_stock, commit{"o3", 2}, at(t0)),
      {reservation_expired{"o3", 1}, reservation_rejected{"o3", 2, 1, "out_of_stock"}}));
  // A commit of the hold alone (qty 0, the older path) is still refused once it expired.
  BOOST_CHECK(
      rejected_with(decide(overdue, commit{"o1"}, at(t0)), inventory_errc::reservation_expired));
}

BOOST_AUTO_TEST_CASE(a_take_of_a_released_or_returned_order_is_still_refused) {
  auto s = given({restocked{10}, reserved{"o1", 1, t0}, released{"o1", 1}, committed{"o2", 1},
                  returned{"o2", 1}});
  BOOST_CHECK(rejected_with(decide(s, commit{"o1", 1}, at_t0), inventory_errc::reservation_closed));
  BOOST_CHECK(rejected_with(decide(s, commit{"o2", 1}, at_t0), inventory_errc::reservation_closed));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(returning_committed_units)

const std::vector<event> sold_3_to_o1{restocked{10}, reserved{"o1", 3, t0 + 5}, committed{"o1", 3}};

BOOST_AUTO_TEST_CASE(a_return_gives_an_orders_committed_units_back_once_however_often_it_is_sent) {
  auto d = decide(given(sold_3_to_o1), return_committed{"o1", 3}, at_t0);
  BOOST_CHECK(accepted_with(d, {returned{"o1", 3}}));
  auto s = apply_all(given(sold_3_to_o1), d.events);
  BOOST_TEST(s.on_hand == 10);
  // Idempotent by the order id, not by a message id that a dedupe window may forget.
  BOOST_CHECK(accepted_with(decide(s, return_committed{"o1", 3}, at_t0), {}));
  BOOST_CHECK(rejected_with(decide(s, commit{"o1"}, at_t0), inventory_errc::reservation_closed));
}

BOOST_AUTO_TEST_CASE(a_return_of_an_order_still_holding_its_reservation_releases_it) {
  auto s = given({restocked{10}, reserved{"o1", 3, t0 + 5}});
  BOOST_CHECK(accepted_with(decide(s, return_committed{"o1", 3}, at_t0), {released{"o1", 3}}));
}

BOOST_AUTO_TEST_CASE(a_return_of_an_order_that_holds_nothing_here_gives_nothing_back) {
  auto s = given({restocked{10}, reserved{"o1", 3, t0 + 5}, released{"o1", 3}});
  BOOST_CHECK(accepted_with(decide(s, return_committed{"o1", 3}, at_t0), {}));
}

BOOST_AUTO_TEST_CASE(
    a_return_that_overtakes_its_orders_take_closes_the_order_so_the_take_gets_nothing) {
  auto s = given({restocked{10}});
  auto d = decide(s, return_committed{"o9", 3}, at_t0);
  BOOST_CHECK(accepted_with(d, {released{"o9", 0}}));
  s = apply_all(s, d.events);
  BOOST_CHECK(rejected_with(decide(s, commit{"o9", 3}, at_t0), inventory_errc::reservation_closed));
  BOOST_CHECK(
      rejected_with(decide(s, reserve{"o9", 3, 500}, at_t0), inventory_errc::reservation_closed));
  BOOST_TEST(s.available() == 10);
}

BOOST_AUTO_TEST_CASE(a_committed_order_is_remembered_past_the_finished_orders_cap) {
  auto events = sold_3_to_o1;
  for (size_t i = 0; i <= max_finished_orders; ++i) {
    events.emplace_back(reservation_rejected{"r" + std::to_string(i), 20, 7, "out_of_stock"});
  }
  auto s = given(events);
  // A retried commit still answers "committed", and the units can still be returned.
  BOOST_CHECK(accepted_with(decide(s, commit{"o1"}, at_t0), {}));
  BOOST_CHECK(accepted_with(decide(s, return_committed{"o1", 3}, at_t0), {returned{"o1", 3}}));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(settling_confirmed_orders)

BOOST_AUTO_TEST_CASE(settling_forgets_a_confirmed_orders_quantity_and_keeps_it_committed) {
  auto s = given({restocked{10}, committed{"o1", 3}});
  auto d = decide(s, settle{"o1"}, at_t0);
  BOOST_CHECK(accepted_with(d, {settled{"o1"}}));
  s = apply_all(s, d.events);
  BOOST_TEST(s.committed_qty.empty());
  BOOST_TEST(s.on_hand == 7);
  BOOST_CHECK(s.finished.find("o1") == finish::committed);
  // Idempotent, and a retried take or commit still answers "committed".
  BOOST_CHECK(accepted_with(decide(s, settle{"o1"}, at_t0), {}));
  BOOST_CHECK(accepted_with(decide(s, commit{"o1", 3}, at_t0), {}));
  BOOST_CHECK(accepted_with(decide(s, commit{"o1"}, at_t0), {}));
}

BOOST_AUTO_TEST_CASE(settling_an_order_that_holds_no_committed_units_records_nothing) {
  auto s = given(
      {restocked{10}, reserved{"held", 1, t0 + 5}, committed{"back", 1}, returned{"back", 1}});
  BOOST_CHECK(accepted_with(decide(s, settle{"back"}, at_t0), {}));
  BOOST_TEST(s.reservations.count("held") == 1u);
}

// Another process hosting the SKU may have taken the order's units after this copy was read: a
// no-op accepted on it would be answered at once (only rejections are checked against the stream)
// and end the order's saga with the quantity kept. Refused, it is decided again on a current copy.
BOOST_AUTO_TEST_CASE(a_settle_for_an_order_this_copy_never_saw_is_refused_for_a_current_copy) {
  auto s = given({restocked{10}, reserved{"held", 1, t0 + 5}});
  for (const auto* id : {"never-seen", "held"}) {
    BOOST_CHECK(rejected_with(decide(s, settle{id}, at_t0), inventory_errc::unknown_reservation));
  }
}

BOOST_AUTO_TEST_CASE(settling_many_orders_records_one_event_for_those_with_committed_units) {
  auto s = given({restocked{10}, committed{"o1", 3}, committed{"o2", 1}, committed{"back", 1},
                  returned{"back", 1}, committed{"done", 2}, settled{"done"}});
  auto d = decide(s, settle_orders{{"o1", "back", "o2", "done", "o1"}}, at_t0);
  // Returned and already settled orders are skipped; a repeated id counts once.
  BOOST_CHECK(accepted_with(d, {orders_settled{{"o1", "o2"}}}));
  s = apply_all(s, d.events);
  BOOST_TEST(s.committed_qty.empty());
  BOOST_TEST(s.on_hand == 10 - 3 - 1 - 2);
  for (const auto* id : {"o1", "o2", "done"}) {
    BOOST_CHECK(s.finished.find(id) == finish::committed);
  }
  BOOST_CHECK(s.finished.find("back") == finish::returned);
  // Idempotent: settling them again records nothing, and the old settle agrees.
  BOOST_CHECK(accepted_with(decide(s, settle_orders{{"o1", "o2"}}, at_t0), {}));
  BOOST_CHECK(accepted_with(decide(s, settle{"o1"}, at_t0), {}));
  BOOST_CHECK(accepted_with(decide(s, settle_orders{}, at_t0), {}));
}

BOOST_AUTO_TEST_CASE(orders_settled_has_the_effect_of_one_settled_per_order) {
  const std::vector<event> before{restocked{10}, reserved{"held", 1, t0 + 5}, committed{"o1", 3},
                                  committed{"o2", 1}, committed{"o3", 2}};
  auto one_by_one = apply_all(given(before), {settled{"o1"}, settled{"o2"}});
  auto at_once = apply_all(given(before), {orders_settled{{"o1", "o2"}}});
  BOOST_CHECK(at_once == one_by_one);
  BOOST_TEST(at_once.committed_qty.size() == 1u); // o3 not settled
}

// An id this copy never saw may be committed on a newer copy (another process hosting the SKU).
// With others to settle, the append's version check catches a copy that is behind: the id is
// passed over. (A batch refused for one forgotten id would leave the others unsettled: the review
// of session 9.)
BOOST_AUTO_TEST_CASE(settling_many_orders_passes_over_one_this_copy_never_saw) {
  auto s = given({restocked{10}, committed{"o1", 3}});
  BOOST_CHECK(accepted_with(decide(s, settle_orders{{"o1", "never-seen"}}, at_t0),
                            {orders_settled{{"o1"}}}));
}

// With nothing to record no version check would catch a copy that is behind: refused, so that
// the runtime decides it again on a current copy.
BOOST_AUTO_TEST_CASE(settling_only_orders_this_copy_never_saw_is_refused_for_a_current_copy) {
  auto s = given({restocked{10}, committed{"o1", 3}, settled{"o1"}});
  BOOST_CHECK(rejected_with(decide(s, settle_orders{{"o1", "never-seen"}}, at_t0),
                            inventory_errc::unknown_reservation));
}

BOOST_AUTO_TEST_CASE(a_hot_sku_remembers_a_bounded_number_of_settled_orders) {
  auto s = given({restocked{max_quantity}});
  const size_t sales = max_finished_orders + 500;
  for (size_t i = 0; i < sales; ++i) {
    auto id = "o" + std::to_string(i);
    for (const command& c : {command{commit{id, 1}}, command{settle{id}}}) {
      auto d = decide(s, c, at_t0);
      BOOST_REQUIRE(d.accepted());
      s = apply_all(std::move(s), d.events);
    }
  }
  BOOST_TEST(s.on_hand == max_quantity - static_cast<int64_t>(sales));
  BOOST_TEST(s.committed_qty.empty());
  // One entry per sale (a settle keeps it committed), the oldest generation forgotten once full.
  BOOST_TEST(s.finished.size() == sales - finished_generation);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(expiring)

BOOST_AUTO_TEST_CASE(expires_exactly_the_reservations_that_are_due) {
  auto s = given({restocked{10}, reserved{"due", 2, t0}, reserved{"later", 3, t0 + 1}});
  auto d = decide(s, expire_reservations{}, at(t0));
  BOOST_CHECK(accepted_with(d, {reservation_expired{"due", 2}}));
  s = apply_all(s, d.events);
  BOOST_TEST(s.available() == 7);
  BOOST_CHECK(s.finished.find("due") == finish::expired);
  BOOST_CHECK(accepted_with(decide(s, expire_reservations{}, at(t0)), {}));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(batching)

BOOST_AUTO_TEST_CASE(deciding_a_batch_gives_the_same_results_as_deciding_one_by_one) {
  std::mt19937 rng{20240611}; // fixed seed: the sequence is the same on every run
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
  std::vector<command> cmds;
  for (int i = 0; i < 3000; ++i) {
    auto order = "o" + std::to_string(pick(300));
    switch (pick(10)) {
      case 0:
        cmds.emplace_back(restock{pick(20) + 1});
        break;
      case 1:
      case 2:
        cmds.emplace_back(release{order});
        break;
      case 3:
        cmds.emplace_back(commit{order});
        break;
      case 4:
        cmds.emplace_back(expire_reservations{});
        break;
      case 5:
        cmds.emplace_back(return_committed{order, pick(5) + 1});
        break;
      default:
        cmds.emplace_back(reserve{order, pick(5), pick(3) + 1});
        break;
    }
  }
  // Cut into mailbox batches of 1..20 commands; time moves on between batches, so reservations
  // fall due and expire.
  auto sequential = given({restocked{50}});
  auto batched = sequential;
  for (size_t first = 0; first < cmds.size();) {
    size_t n = std::min(cmds.size() - first, static_cast<size_t>(pick(20) + 1));
    std::vector<command> mailbox(cmds.begin() + first, cmds.begin() + first + n);
    auto ctx = at(t0 + static_cast<int64_t>(first) * 100);
    auto batch = decide_batch(batched, mailbox, ctx);
    BOOST_REQUIRE_EQUAL(batch.size(), n);
    for (size_t i = 0; i < n; ++i) {
      auto single = decide(sequential, mailbox[i], ctx);
      BOOST_CHECK_MESSAGE(batch[i] == single, "command " << first + i << " decided differently");
      sequential = apply_all(std::move(sequential), single.events);
      batched = apply_all(std::move(batched), batch[i].events);
    }
    first += n;
  }
  BOOST_CHECK(batched == sequential);
  BOOST_TEST(sequential.finished.size() > 0u);
}

BOOST_AUTO_TEST_CASE(a_batch_never_oversells) {
  std::vector<command> cmds;
  for (int i = 0; i < 500; ++i) {
    cmds.emplace_back(reserve{"o" + std::to_string(i), 3, 1000});
  }
  auto decisions = decide_batch(given({restocked{100}}), cmds, at_t0);
  auto s = given({restocked{100}});
  for (const auto& d : decisions) {
    s = apply_all(std::move(s), d.events);
  }
  BOOST_TEST(s.reservations.size() == 33u);
  BOOST_TEST(s.available() == 1);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(recovery)

BOOST_AUTO_TEST_CASE(stops_restarts_and_has_the_same_state) {
  std::vector<event> before{restocked{10},
                            reserved{"o1", 3, t0 + 5},
                            reserved{"o2", 2, t0 + 5},
                            committed{"o1", 3},
                            reservation_rejected{"o3", 50, 5, "out_of_stock"},
                            reserved{"o4", 1, t0}};
  std::vector<event> after{reservation_expired{"o4", 1}, released{"o2", 2}, restocked{4},
                           returned{"o1", 3}};
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
