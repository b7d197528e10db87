#define BOOST_TEST_MODULE sql_array
#include <boost/test/unit_test.hpp>

#include "persistence/sql_array.hpp"

#include <string>

using namespace ordermesh::persistence;

namespace {

std::string bytes(std::initializer_list<int> xs) {
  std::string out;
  for (int x : xs) {
    out += static_cast<char>(x);
  }
  return out;
}

// array_send's header of a one-dimensional array without nulls: dimensions, has-nulls flag,
// element type OID, then the dimension's length and lower bound (big-endian int32 each).
std::string header(int oid, int count) {
  return bytes(
      {0, 0, 0, 1, 0, 0, 0, 0, 0, 0, (oid >> 8) & 0xff, oid & 0xff, 0, 0, 0, count, 0, 0, 0, 1});
}

} // namespace

BOOST_AUTO_TEST_CASE(a_binary_text_array_holds_each_element_as_is_after_its_length) {
  binary_array a{binary_array::element::text, 2};
  a.add("a\"{,}\\");
  a.add("");
  BOOST_TEST(a.bytes() == header(25, 2) + bytes({0, 0, 0, 6}) + "a\"{,}\\" + bytes({0, 0, 0, 0}));
}

BOOST_AUTO_TEST_CASE(a_binary_jsonb_element_starts_with_the_format_version) {
  binary_array a{binary_array::element::jsonb, 1};
  a.add("{}");
  BOOST_TEST(a.bytes() == header(3802, 1) + bytes({0, 0, 0, 3, 1}) + "{}");
}

BOOST_AUTO_TEST_CASE(binary_integers_and_booleans_are_big_endian_of_their_width) {
  binary_array big{binary_array::element::int8, 2};
  big.add_int8(0x0102030405060708);
  big.add_int8(-1);
  BOOST_TEST(big.bytes() == header(20, 2) + bytes({0, 0, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8}) +
                                bytes({0, 0, 0, 8, 255, 255, 255, 255, 255, 255, 255, 255}));
  binary_array small{binary_array::element::int4, 1};
  small.add_int4(258);
  BOOST_TEST(small.bytes() == header(23, 1) + bytes({0, 0, 0, 4, 0, 0, 1, 2}));
  binary_array flags{binary_array::element::boolean, 2};
  flags.add_bool(true);
  flags.add_bool(false);
  BOOST_TEST(flags.bytes() == header(16, 2) + bytes({0, 0, 0, 1, 1, 0, 0, 0, 1, 0}));
}
