#define BOOST_TEST_MODULE fields
#include <boost/test/unit_test.hpp>

#include "actors/inventory/messages.hpp"
#include "actors/order/messages.hpp"
#include "actors/payment/messages.hpp"
#include "actors/payment/psp_messages.hpp"
#include "persistence/messages.hpp"
#include "util/fields.hpp"

#include <sstream>
#include <string>

namespace ordermesh::util::testing {

struct three {
  std::string name;
  int64_t count = 0;
  bool flag = false;
};
OM_FIELDS(three, name, count, flag)

struct none {};
OM_NO_FIELDS(none)

/// An inspector in CAF's shape that writes each field it is given, in order.
struct recorder {
  using result_type = std::string;
  template <class... Ts>
  std::string operator()(Ts&... xs) {
    std::ostringstream out;
    ((out << xs << ';'), ...);
    return out.str();
  }
};

} // namespace ordermesh::util::testing

using namespace ordermesh;
using namespace ordermesh::actors;
using namespace ordermesh::util::testing;

BOOST_AUTO_TEST_CASE(inspect_hands_every_listed_field_to_the_inspector_in_declaration_order) {
  three x{"a", 7, true};
  recorder f;
  BOOST_TEST(inspect(f, x) == "a;7;1;");
  none n;
  BOOST_TEST(inspect(f, n) == "");
}

BOOST_AUTO_TEST_CASE(values_are_equal_only_when_every_field_is) {
  three x{"a", 7, true};
  BOOST_TEST((x == three{"a", 7, true}));
  BOOST_TEST((x != three{"b", 7, true}));
  BOOST_TEST((x != three{"a", 8, true}));
  BOOST_TEST((x != three{"a", 7, false}));
  BOOST_TEST((none{} == none{}));
}

BOOST_AUTO_TEST_CASE(the_message_headers_use_it) {
  recorder f;
  inventory::reservation_rejected r{"o-1", 3, 1, "out_of_stock"};
  BOOST_TEST(inspect(f, r) == "o-1;3;1;out_of_stock;");
  BOOST_TEST((r != inventory::reservation_rejected{"o-1", 3, 2, "out_of_stock"}));

  payment::record_sale_result sale{"o-1/sale", payment::psp_outcome::failed, "", "no funds", 2,
                                   1250};
  BOOST_TEST((sale == payment::record_sale_result{"o-1/sale", payment::psp_outcome::failed, "",
                                                  "no funds", 2, 1250}));
  BOOST_TEST((sale != payment::record_sale_result{"o-1/sale", payment::psp_outcome::failed, "",
                                                  "no funds", 3, 1250}));

  persistence::journal_stats stats{1, 2, 3, 4, 5, 6, 7, 8, 9};
  BOOST_TEST(inspect(f, stats) == "1;2;3;4;5;6;7;8;9;");
  payment::breaker_report breaker{"open", 1, 2, 3, false};
  BOOST_TEST(inspect(f, breaker) == "open;1;2;3;0;");
}

BOOST_AUTO_TEST_CASE(nested_messages_compare_by_their_own_field_lists) {
  order::order_placed placed{"o-1", "c-1", {{"apple", 2}, {"pear", 1}}, "tok", 1250};
  BOOST_TEST(
      (placed == order::order_placed{"o-1", "c-1", {{"apple", 2}, {"pear", 1}}, "tok", 1250}));
  BOOST_TEST(
      (placed != order::order_placed{"o-1", "c-1", {{"apple", 2}, {"pear", 2}}, "tok", 1250}));
  order::reverse_sale_payment reverse{{{"apple", 2}}};
  BOOST_TEST((reverse == order::reverse_sale_payment{{{"apple", 2}}}));
  BOOST_TEST((reverse != order::reverse_sale_payment{}));
  BOOST_TEST((order::capture_payment{} == order::capture_payment{}));
}
