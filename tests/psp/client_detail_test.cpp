#define BOOST_TEST_MODULE psp_client_detail
#include <boost/test/unit_test.hpp>

#include "psp/client/client.hpp"

#include <nlohmann/json.hpp>

#include <string>

// The PSP's error text goes into recorded events (authorization_failed's reason), whose JSON
// encoding refuses invalid UTF-8: the shortened detail must always be valid UTF-8.

using ordermesh::psp::shorten_detail;

namespace {

/// Whether a strict JSON encode accepts `text` (it throws on invalid UTF-8).
bool encodes_strictly(const std::string& text) {
  try {
    (void)nlohmann::json(text).dump();
    return true;
  } catch (const nlohmann::json::exception&) {
    return false;
  }
}

} // namespace

BOOST_AUTO_TEST_CASE(a_long_detail_is_cut_on_a_utf8_character_boundary) {
  // 199 ASCII bytes, then a 2-byte character straddling the 200-byte limit.
  const auto text = std::string(199, 'a') + "\xC3\xA9" + std::string(50, 'b');
  const auto out = shorten_detail(text);
  BOOST_TEST(encodes_strictly(out));
  BOOST_TEST(out == std::string(199, 'a') + "...");
}

BOOST_AUTO_TEST_CASE(a_four_byte_character_at_the_limit_is_left_out_whole) {
  const auto text = std::string(198, 'a') + "\xF0\x9F\x98\x80" + "tail";
  const auto out = shorten_detail(text);
  BOOST_TEST(encodes_strictly(out));
  BOOST_TEST(out == std::string(198, 'a') + "...");
}

BOOST_AUTO_TEST_CASE(a_short_detail_is_kept_as_it_is) {
  BOOST_TEST(shorten_detail("card declined: caf\xC3\xA9") == "card declined: caf\xC3\xA9");
  BOOST_TEST(shorten_detail(std::string(200, 'x')) == std::string(200, 'x'));
}

BOOST_AUTO_TEST_CASE(invalid_bytes_from_the_psp_are_replaced) {
  const auto out = shorten_detail("bad \xFF\xFE bytes");
  BOOST_TEST(encodes_strictly(out));
  BOOST_TEST(out == "bad \xEF\xBF\xBD\xEF\xBF\xBD bytes");
}
