#define BOOST_TEST_MODULE type_ids
#include <boost/test/unit_test.hpp>

#include "actors/inventory/errors.hpp"
#include "actors/order/errors.hpp"
#include "core/actor_system.hpp"
#include "core/type_ids.hpp"

#include <caf/all.hpp>

using namespace ordermesh;
using namespace ordermesh::actors;

namespace {

struct serialization_fixture {
  caf::actor_system_config cfg;
  caf::actor_system sys{core::configure(cfg)};

  /// `value` inside a message serialized as the middleman does between nodes, and read back.
  template <class T>
  T over_the_wire(const T& value) {
    auto msg = caf::make_message(value);
    std::vector<char> buf;
    caf::binary_serializer sink{sys, buf};
    auto err = sink(msg);
    BOOST_TEST_REQUIRE(!err,
                       "serializing " << caf::deep_to_string(value) << ": " << sys.render(err));
    caf::message out;
    caf::binary_deserializer source{sys, buf};
    err = source(out);
    BOOST_TEST_REQUIRE(!err, "deserializing: " << sys.render(err));
    BOOST_TEST_REQUIRE(out.match_elements<T>());
    return out.get_as<T>(0);
  }

  /// `value` comes back from the wire as it went.
  template <class T>
  void round_trips(T value) {
    BOOST_TEST(caf::deep_to_string(over_the_wire(value)) == caf::deep_to_string(value));
  }
};

} // namespace

BOOST_FIXTURE_TEST_CASE(every_command_and_reply_that_can_cross_nodes_survives_serialization,
                        serialization_fixture) {
  envelope env{"m-1", "order-1", "m-0", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
               1234567};
  round_trips(env);
  round_trips(inventory::restock{5});
  round_trips(inventory::reserve{"order-1", 2, 60000});
  round_trips(inventory::release{"order-1"});
  round_trips(inventory::commit{"order-1"});
  round_trips(inventory::return_committed{"order-1", 3});
  round_trips(inventory::settle_orders{{"order-1", "order-2"}});
  round_trips(inventory::expire_reservations{});
  round_trips(
      order::place_order{"order-1", "c-1", {{"sku-1", 2}, {"sku-2", 1}}, {"tok_visa", 3000}});
  round_trips(order::record_reservation{"sku-1", false, "out_of_stock"});
  round_trips(order::record_authorization{2, order::payment_outcome::declined, "no", "auth_1"});
  round_trips(order::record_stock_commit{"sku-1", 2, order::commit_outcome::refused, "expired"});
  round_trips(order::record_capture{true});
  round_trips(order::record_timeout{order::saga_step::payment, 3});
  round_trips(order::record_compensated{});
  round_trips(order::record_stock_taken{{"sku-1", "sku-2"}});
  round_trips(order::record_stock_settled{});
  round_trips(payment::authorize{3000, "tok_visa", "order-1/authorize/1"});
  round_trips(payment::record_psp_result{"k", payment::psp_outcome::authorized, "auth_1", ""});
  round_trips(payment::record_hold_released{"order-1/authorize/1"});
  round_trips(payment::record_capture_confirmed{});
  round_trips(payment::record_refund_confirmed{});
  round_trips(payment::capture{});
  round_trips(payment::refund{});
  round_trips(payment::void_authorization{});
  round_trips(
      notification::record_notification{"order-1", notification::terminal_status::confirmed});
  round_trips(inventory::inventory_reply{{inventory::inventory_recorded::reservation_expired,
                                          inventory::inventory_recorded::committed},
                                         7,
                                         {10, 2, 8, 1}});
  round_trips(order::order_reply{
      3, {"order-1", order::order_status::rejected, "unknown_sku: pear", 3000, 1, true}, true});
  round_trips(payment::payment_reply{
      2, {payment::payment_status::captured, 3000, 1, 1, "auth_1", "", true, true}});
  round_trips(notification::notification_reply{1, {"order-1", true}});
  round_trips(runtime::entity_info{"sku-1", "running", 1, 3, 9});
  round_trips(persistence::stream_append{"s", 3, {{"t.v1", 1, "{}", "{}"}}});
  round_trips(persistence::append_result{persistence::append_status::version_conflict, 4, 0, 0});
}

BOOST_FIXTURE_TEST_CASE(rejections_keep_their_aggregate_code_and_reason_across_nodes,
                        serialization_fixture) {
  auto back = over_the_wire(caf::make_error(inventory::inventory_errc::unknown_sku, "unknown_sku"));
  BOOST_TEST((runtime::rejection_code<inventory::inventory_errc>(back) ==
              inventory::inventory_errc::unknown_sku));
  BOOST_TEST(!runtime::rejection_code<order::order_errc>(back).has_value());
  BOOST_TEST(runtime::reason_of(back) == "unknown_sku");
  BOOST_TEST(sys.render(back).find("inventory_errc::unknown_sku") != std::string::npos);
  BOOST_TEST(sys.render(caf::make_error(order::order_errc::invalid_order, "no lines"))
                 .find("order_errc::invalid_order") != std::string::npos);
}

BOOST_FIXTURE_TEST_CASE(entity_errors_keep_their_category_and_render_readably,
                        serialization_fixture) {
  auto back = over_the_wire(
      caf::make_error(runtime::entity_errc::overloaded, "inventory/sku-1 has 9 waiting"));
  BOOST_TEST((back == runtime::entity_errc::overloaded));
  BOOST_TEST(sys.render(back).find("entity_errc::overloaded") != std::string::npos);
}
