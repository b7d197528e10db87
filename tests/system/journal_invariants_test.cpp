// The journal-invariant checker of the system tests, on hand-written histories: it passes a
// correct one and names each kind of broken history, so that a green system test means something.

#define BOOST_TEST_MODULE system_journal_invariants
#include <boost/test/unit_test.hpp>

#include "tests/system/journal_invariants.hpp"

using namespace ordermesh::testing;
using nlohmann::json;

namespace {

/// Builds a history with positions and stream versions filled in.
struct history {
  std::vector<journal_row> rows;
  std::map<std::string, int64_t> versions;

  history& add(const std::string& stream, const std::string& type, json payload = json::object()) {
    rows.push_back(journal_row{static_cast<int64_t>(rows.size()) + 1, stream, ++versions[stream],
                               type, std::move(payload), ""});
    return *this;
  }
  history& restock(const std::string& sku, int64_t qty) {
    return add("inventory/" + sku, "inventory.restocked.v1", {{"qty", qty}});
  }
  history& inventory(const std::string& sku, const std::string& what, const std::string& order,
                     int64_t qty) {
    return add("inventory/" + sku, "inventory." + what + ".v1",
               {{"order_id", order}, {"qty", qty}});
  }
  history& place(const std::string& order, const std::string& sku, int64_t qty) {
    return add("order/" + order, "order.placed.v1",
               {{"order_id", order}, {"lines", {{{"sku", sku}, {"qty", qty}}}}});
  }
  /// A whole confirmed order of `qty` units of `sku`.
  history& confirmed(const std::string& order, const std::string& sku, int64_t qty) {
    place(order, sku, qty);
    inventory(sku, "reserved", order, qty);
    add("payment/" + order, "payment.authorized.v1");
    add("order/" + order, "order.confirmed.v1");
    inventory(sku, "committed", order, qty);
    add("payment/" + order, "payment.captured.v1");
    return add("order/" + order, "order.payment_captured.v1");
  }
  /// A whole order cancelled after its authorization (released, voided).
  history& cancelled(const std::string& order, const std::string& sku, int64_t qty) {
    place(order, sku, qty);
    inventory(sku, "reserved", order, qty);
    add("payment/" + order, "payment.authorized.v1");
    add("order/" + order, "order.cancelled.v1", {{"reason", "test"}});
    inventory(sku, "released", order, qty);
    add("payment/" + order, "payment.voided.v1");
    return add("order/" + order, "order.compensation_completed.v1");
  }
};

} // namespace

BOOST_AUTO_TEST_CASE(a_correct_history_has_no_violation) {
  history h;
  h.restock("a", 3).confirmed("o1", "a", 2).cancelled("o2", "a", 1).confirmed("o3", "a", 1);
  auto report = check_journal(h.rows);
  BOOST_TEST(report.ok(), report.describe());
  BOOST_TEST(report.counts["confirmed"] == 2);
  BOOST_TEST(report.counts["cancelled"] == 1);
}

BOOST_AUTO_TEST_CASE(reserving_more_than_on_hand_at_any_position_is_oversold) {
  history h;
  h.restock("a", 2).place("o1", "a", 2).place("o2", "a", 1);
  h.inventory("a", "reserved", "o1", 2).inventory("a", "reserved", "o2", 1);
  // Later released: the end state is fine, the history is not.
  h.inventory("a", "released", "o2", 1);
  auto report = check_journal(h.rows, {false});
  BOOST_TEST(report.has("oversold: a has 3 reserved of 2 on hand"), report.describe());
}

BOOST_AUTO_TEST_CASE(a_take_after_its_orders_hold_expired_takes_fresh_stock_and_may_not_oversell) {
  history h;
  h.restock("a", 1).place("o1", "a", 1).inventory("a", "reserved", "o1", 1);
  h.inventory("a", "reservation_expired", "o1", 1).inventory("a", "committed", "o1", 1);
  auto fresh = check_journal(h.rows, {false});
  BOOST_TEST(fresh.ok(), fresh.describe());
  h.place("o2", "a", 1).inventory("a", "committed", "o2", 1);
  BOOST_TEST(check_journal(h.rows, {false}).has("oversold"));
}

BOOST_AUTO_TEST_CASE(a_commit_after_its_orders_hold_was_released_is_named) {
  history h;
  h.restock("a", 1).place("o1", "a", 1).inventory("a", "reserved", "o1", 1);
  h.inventory("a", "released", "o1", 1).inventory("a", "committed", "o1", 1);
  auto report = check_journal(h.rows, {false});
  BOOST_TEST(report.has("committed for order o1, which holds nothing of a"), report.describe());
}

BOOST_AUTO_TEST_CASE(a_second_terminal_event_and_a_second_placement_are_named) {
  history h;
  h.restock("a", 5).confirmed("o1", "a", 1);
  h.add("order/o1", "order.cancelled.v1").place("o1", "a", 1);
  auto report = check_journal(h.rows, {false});
  BOOST_TEST(report.has("order o1 has a second terminal event"), report.describe());
  BOOST_TEST(report.has("order o1 placed 2 times"), report.describe());
}

BOOST_AUTO_TEST_CASE(a_confirmed_order_whose_stock_commit_was_lost_is_named_once_settled) {
  history h;
  h.restock("a", 1).place("o1", "a", 1).inventory("a", "reserved", "o1", 1);
  h.add("payment/o1", "payment.authorized.v1").add("order/o1", "order.confirmed.v1");
  h.inventory("a", "reservation_expired", "o1", 1);
  h.add("payment/o1", "payment.captured.v1").add("order/o1", "order.payment_captured.v1");
  BOOST_TEST(check_journal(h.rows, {false}).ok()); // not settled: it may still commit
  auto report = check_journal(h.rows, {true});
  BOOST_TEST(report.has("confirmed without committed stock"), report.describe());
}

BOOST_AUTO_TEST_CASE(an_authorization_neither_captured_nor_voided_is_named_once_settled) {
  history h;
  h.restock("a", 1).place("o1", "a", 1).inventory("a", "reserved", "o1", 1);
  h.add("payment/o1", "payment.authorized.v1");
  h.add("order/o1", "order.cancelled.v1").inventory("a", "released", "o1", 1);
  h.add("order/o1", "order.compensation_completed.v1");
  auto report = check_journal(h.rows, {true});
  BOOST_TEST(report.has("1 authorizations != 0 captures + 0 releases"), report.describe());
}

BOOST_AUTO_TEST_CASE(a_keyed_hold_ends_only_by_its_capture_or_its_release_at_the_psp) {
  auto cancelled = [](bool released) {
    history h;
    h.restock("a", 1).place("o1", "a", 1).inventory("a", "reserved", "o1", 1);
    h.add("payment/o1", "payment.authorized.v2", {{"idempotency_key", "k1"}});
    h.add("payment/o1", "payment.authorized.v2", {{"idempotency_key", "k2"}}); // a late attempt
    h.add("order/o1", "order.cancelled.v1", {{"reason", "test"}});
    h.inventory("a", "released", "o1", 1).add("payment/o1", "payment.voided.v1");
    h.add("payment/o1", "payment.hold_released.v1", {{"idempotency_key", "k1"}});
    if (released) {
      h.add("payment/o1", "payment.hold_released.v1", {{"idempotency_key", "k2"}});
    }
    h.add("order/o1", "order.compensation_completed.v1");
    return check_journal(h.rows, {true});
  };
  BOOST_TEST(cancelled(true).ok(), cancelled(true).describe());
  // The void is a decision: a hold the PSP never confirmed released is still held.
  BOOST_TEST(cancelled(false).has("2 authorizations != 0 captures + 1 releases"),
             cancelled(false).describe());
}

BOOST_AUTO_TEST_CASE(voiding_a_payment_that_was_never_authorized_releases_nothing) {
  history h;
  h.restock("a", 1).place("o1", "a", 1).inventory("a", "reserved", "o1", 1);
  h.add("payment/o1", "payment.declined.v1").add("order/o1", "order.cancelled.v1");
  h.inventory("a", "released", "o1", 1).add("payment/o1", "payment.voided.v1");
  h.add("order/o1", "order.compensation_completed.v1");
  auto report = check_journal(h.rows, {true});
  BOOST_TEST(report.ok(), report.describe());
}

BOOST_AUTO_TEST_CASE(authorizations_of_every_attempt_count_and_a_released_hold_closes_one) {
  // Since attempts have their own identity the payment writes payment.authorized.v2; a second
  // attempt's late authorization is given back with payment.hold_released.v1.
  history h;
  h.restock("a", 1).place("o1", "a", 1).inventory("a", "reserved", "o1", 1);
  h.add("payment/o1", "payment.authorized.v2").add("payment/o1", "payment.authorized.v2");
  h.add("order/o1", "order.confirmed.v1").inventory("a", "committed", "o1", 1);
  h.add("payment/o1", "payment.captured.v1").add("order/o1", "order.payment_captured.v1");
  BOOST_TEST(check_journal(h.rows, {false}).ok(), check_journal(h.rows, {false}).describe());
  auto open = check_journal(h.rows, {true});
  BOOST_TEST(open.has("2 authorizations != 1 captures + 0 releases"), open.describe());
  h.add("payment/o1", "payment.hold_released.v1");
  auto closed = check_journal(h.rows, {true});
  BOOST_TEST(closed.ok(), closed.describe());
}

BOOST_AUTO_TEST_CASE(units_a_cancelled_order_returned_to_the_stock_are_not_taken) {
  // The saga compensates a committed line by returning it (inventory.returned, once per order).
  history h;
  h.restock("a", 2).place("o1", "a", 1).inventory("a", "reserved", "o1", 1);
  h.add("payment/o1", "payment.authorized.v2");
  h.inventory("a", "committed", "o1", 1);
  h.add("order/o1", "order.cancelled.v1", {{"reason", "stock no longer held for b"}});
  h.add("payment/o1", "payment.voided.v1");
  auto taken = check_journal(h.rows, {true});
  BOOST_TEST(taken.has("but took 1 a from the stock"), taken.describe());
  h.inventory("a", "returned", "o1", 1);
  h.add("payment/o1", "payment.hold_released.v1"); // the void, confirmed by the PSP
  h.add("order/o1", "order.compensation_completed.v1");
  auto returned = check_journal(h.rows, {true});
  BOOST_TEST(returned.ok(), returned.describe());
}

BOOST_AUTO_TEST_CASE(an_order_without_an_end_is_named_once_settled) {
  history h;
  h.restock("a", 1).place("o1", "a", 1);
  BOOST_TEST(check_journal(h.rows, {false}).ok());
  auto report = check_journal(h.rows, {true});
  BOOST_TEST(report.has("order o1 has 0 terminal events"), report.describe());
}

BOOST_AUTO_TEST_CASE(a_sale_path_history_takes_sells_and_reverses_without_violation) {
  history h;
  h.restock("a", 2);
  // Confirmed: taken (no reservation), then sold in one PSP call.
  h.place("o1", "a", 1).inventory("a", "committed", "o1", 1);
  h.add("order/o1", "order.sale_requested.v1", {{"attempt", 1}});
  h.add("payment/o1", "payment.sold.v1", {{"idempotency_key", "o1/sale"}});
  h.add("order/o1", "order.confirmed.v1").inventory("a", "settled", "o1", 0);
  h.add("order/o1", "order.payment_captured.v1");
  // Cancelled after a sale that was carried out unseen: reversed (refunded), then stock returned.
  h.place("o2", "a", 1).inventory("a", "committed", "o2", 1);
  h.add("payment/o2", "payment.sold.v1", {{"idempotency_key", "o2/sale"}});
  h.add("order/o2", "order.cancelled.v1", {{"reason", "test"}});
  h.add("payment/o2", "payment.sale_reversed.v1", {{"idempotency_key", "o2/sale"}});
  h.inventory("a", "returned", "o2", 1).add("order/o2", "order.compensation_completed.v1");
  // Rejected elsewhere before its take arrived here: closed, the take gets nothing.
  h.place("o3", "a", 1).inventory("a", "released", "o3", 0);
  h.add("order/o3", "order.rejected.v1").add("order/o3", "order.compensation_completed.v1");
  auto report = check_journal(h.rows);
  BOOST_TEST(report.ok(), report.describe());
}

BOOST_AUTO_TEST_CASE(a_confirmed_sale_whose_settle_was_lost_is_named_once_settled) {
  history h;
  h.restock("a", 2);
  h.place("o1", "a", 1).inventory("a", "committed", "o1", 1);
  h.add("order/o1", "order.sale_requested.v1", {{"attempt", 1}});
  h.add("payment/o1", "payment.sold.v1", {{"idempotency_key", "o1/sale"}});
  h.add("order/o1", "order.confirmed.v1").add("order/o1", "order.payment_captured.v1");
  BOOST_TEST(check_journal(h.rows, {false}).ok());
  auto report = check_journal(h.rows);
  BOOST_TEST(report.has("order o1 is a confirmed sale settled 0 times at a"), report.describe());
}

// The current binary records no event for an order's first sale: order.confirmed{skus} follows
// the takes, and the order is still a sale whose lines must be settled once.
BOOST_AUTO_TEST_CASE(a_sale_confirmed_straight_from_placed_is_checked_as_a_sale) {
  history h;
  h.restock("a", 2);
  h.place("o1", "a", 1).inventory("a", "committed", "o1", 1);
  h.add("payment/o1", "payment.sold.v1", {{"idempotency_key", "o1/sale"}});
  h.add("order/o1", "order.confirmed.v1", {{"skus", {"a"}}});
  auto report = check_journal(h.rows);
  BOOST_TEST(report.has("order o1 is a confirmed sale settled 0 times at a"), report.describe());
  h.add("inventory/a", "inventory.orders_settled.v1", {{"order_ids", {"o1"}}});
  h.add("notification/o1", "notification.recorded.v1",
        {{"order_id", "o1"}, {"status", "confirmed"}});
  report = check_journal(h.rows);
  BOOST_TEST(report.ok(), report.describe());
}

// The settlement runner settles confirmed sales in one inventory.orders_settled per SKU and
// round: each order it names counts once; one named in two such events was settled twice.
BOOST_AUTO_TEST_CASE(sales_settled_by_the_runner_count_once_per_order_named) {
  history h;
  h.restock("a", 3);
  for (const auto* id : {"o1", "o2"}) {
    h.place(id, "a", 1).inventory("a", "committed", id, 1);
    h.add(std::string{"order/"} + id, "order.sale_requested.v1", {{"attempt", 1}});
    h.add(std::string{"payment/"} + id, "payment.sold.v1",
          {{"idempotency_key", std::string{id} + "/sale"}});
    h.add(std::string{"order/"} + id, "order.confirmed.v1", {{"skus", {"a"}}});
    h.add(std::string{"notification/"} + id, "notification.recorded.v1",
          {{"order_id", id}, {"status", "confirmed"}});
  }
  h.add("inventory/a", "inventory.orders_settled.v1", {{"order_ids", {"o1", "o2"}}});
  auto report = check_journal(h.rows);
  BOOST_TEST(report.ok(), report.describe());
  h.add("inventory/a", "inventory.orders_settled.v1", {{"order_ids", {"o2"}}});
  report = check_journal(h.rows);
  BOOST_TEST(report.has("order o2 is a confirmed sale settled 2 times at a"), report.describe());
}

BOOST_AUTO_TEST_CASE(a_sale_kept_by_a_cancelled_order_and_a_take_after_its_close_are_named) {
  history h;
  h.restock("a", 2);
  h.place("o1", "a", 1).inventory("a", "committed", "o1", 1);
  h.add("payment/o1", "payment.sold.v1", {{"idempotency_key", "o1/sale"}});
  h.add("order/o1", "order.cancelled.v1", {{"reason", "test"}});
  h.inventory("a", "returned", "o1", 1).add("order/o1", "order.compensation_completed.v1");
  h.place("o2", "a", 1).inventory("a", "released", "o2", 0).inventory("a", "committed", "o2", 1);
  auto report = check_journal(h.rows);
  BOOST_TEST(
      report.has("order o1 ended order.cancelled.v1 with its payment captured and not refunded"),
      report.describe());
  BOOST_TEST(report.has("committed for order o2, which holds nothing of a"), report.describe());
}

namespace {

/// A sale of one `sku` confirmed naming it, settled by the runner; its saga ends there.
history& sale_confirmed_naming_skus(history& h, const std::string& id, const std::string& sku) {
  h.place(id, sku, 1).inventory(sku, "committed", id, 1);
  h.add("order/" + id, "order.sale_requested.v1", {{"attempt", 1}});
  h.add("payment/" + id, "payment.sold.v1", {{"idempotency_key", id + "/sale"}});
  h.add("order/" + id, "order.confirmed.v1", {{"skus", {sku}}});
  return h.add("inventory/" + sku, "inventory.orders_settled.v1", {{"order_ids", {id}}});
}

history& notified(history& h, const std::string& id, const std::string& status) {
  return h.add("notification/" + id, "notification.recorded.v1",
               {{"order_id", id}, {"status", status}});
}

} // namespace

// A sale confirmed naming its SKUs ends its saga at the confirmation (no payment_captured); the
// settlement runner notifies it, once. (The binary before recorded payment_captured after the
// notification's answer: still one end.)
BOOST_AUTO_TEST_CASE(a_sale_confirmed_naming_its_skus_ends_there_and_must_be_notified_once) {
  history h;
  h.restock("a", 5);
  sale_confirmed_naming_skus(h, "o1", "a");
  notified(h, "o1", "confirmed");
  sale_confirmed_naming_skus(h, "o2", "a");
  notified(h, "o2", "confirmed").add("order/o2", "order.payment_captured.v1");
  auto report = check_journal(h.rows);
  BOOST_TEST(report.ok(), report.describe());
  BOOST_TEST(report.counts["notified"] == 2);
  // Not notified (yet): only once the system settled.
  sale_confirmed_naming_skus(h, "o3", "a");
  BOOST_TEST(check_journal(h.rows, {false}).ok());
  report = check_journal(h.rows);
  BOOST_TEST(report.has("order o3 is a confirmed sale notified 0 times"), report.describe());
  // Recorded twice, or with another status than the order's end: at every instant.
  notified(h, "o3", "confirmed");
  notified(h, "o1", "confirmed");
  sale_confirmed_naming_skus(h, "o4", "a");
  notified(h, "o4", "cancelled");
  report = check_journal(h.rows, {false});
  BOOST_TEST(report.has("order o1 notified 2 times"), report.describe());
  BOOST_TEST(report.has("order o4 (order.confirmed.v1) notified as cancelled"), report.describe());
  BOOST_TEST(!report.has("order o3"), report.describe());
}
