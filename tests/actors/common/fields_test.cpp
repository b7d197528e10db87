#define BOOST_TEST_MODULE fields
#include <boost/test/unit_test.hpp>

#include "actors/common/fields.hpp"
#include "actors/inventory/messages.hpp"

#include <sstream>
#include <string>

namespace ordermesh::actors::testing {

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

} // namespace ordermesh::actors::testing

using namespace ordermesh::actors;
using namespace ordermesh::actors::testing;

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
}
