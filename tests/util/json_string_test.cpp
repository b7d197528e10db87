#define BOOST_TEST_MODULE json_string
#include <boost/test/unit_test.hpp>

#include "util/json_string.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <random>
#include <string>

namespace {

using ordermesh::util::append_json_string;

/// What nlohmann::json writes for the string `s` with invalid UTF-8 replaced: the reference.
std::string nlohmann_literal(const std::string& s) {
  return nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string literal(const std::string& s) {
  std::string out;
  append_json_string(out, s);
  return out;
}

std::string hex_of(const std::string& s) {
  constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    out += hex[c >> 4];
    out += hex[c & 0xf];
    out += ' ';
  }
  return out;
}

/// Counts the inputs whose literal differs from nlohmann's; reports the first few.
struct comparison {
  std::size_t checked = 0;
  std::size_t differing = 0;

  void check(const std::string& s) {
    ++checked;
    const auto ours = literal(s);
    const auto reference = nlohmann_literal(s);
    if (ours != reference && ++differing <= 5) {
      BOOST_ERROR("input " << hex_of(s) << ": ours " << hex_of(ours) << "!= nlohmann's "
                           << hex_of(reference));
    }
  }
};

std::string utf8_of(std::uint32_t cp) {
  std::string out;
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return out;
}

} // namespace

BOOST_AUTO_TEST_CASE(plain_text_is_quoted_as_it_is) {
  BOOST_TEST(literal("") == R"("")");
  BOOST_TEST(literal("o40804a535efc6c85ef37a04c9e6497e1/settled") ==
             R"("o40804a535efc6c85ef37a04c9e6497e1/settled")");
}

BOOST_AUTO_TEST_CASE(quotes_backslashes_and_control_characters_are_escaped) {
  BOOST_TEST(literal("a\"b\\c") == R"("a\"b\\c")");
  BOOST_TEST(literal("\b\f\n\r\t") == R"("\b\f\n\r\t")");
  BOOST_TEST(literal(std::string{"\0\x01\x1f\x7f", 4}) == "\"\\u0000\\u0001\\u001f\x7f\"");
}

BOOST_AUTO_TEST_CASE(each_invalid_sequence_becomes_one_replacement_character) {
  BOOST_TEST(literal("a\xff") == "\"a\xEF\xBF\xBD\"");
  // A truncated sequence is one replacement; the byte that broke it is read on its own.
  BOOST_TEST(literal("\xe2\x82"
                     "A") == "\"\xEF\xBF\xBD"
                             "A\"");
  BOOST_TEST(literal("\xe2\x82") == "\"\xEF\xBF\xBD\"");
  // Overlong forms and surrogates are broken at their second byte.
  BOOST_TEST(literal("\xe0\x80\x80") == "\"\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\"");
  BOOST_TEST(literal("\xed\xa0\x80") == "\"\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\"");
}

BOOST_AUTO_TEST_CASE(every_single_byte_matches_nlohmann) {
  comparison c;
  for (int b = 0; b < 256; ++b) {
    c.check(std::string(1, static_cast<char>(b)));
  }
  BOOST_TEST(c.differing == 0u);
}

BOOST_AUTO_TEST_CASE(every_pair_of_bytes_matches_nlohmann) {
  comparison c;
  for (int a = 0; a < 256; ++a) {
    for (int b = 0; b < 256; ++b) {
      c.check(std::string{static_cast<char>(a), static_cast<char>(b)});
    }
  }
  BOOST_TEST(c.checked == 65536u);
  BOOST_TEST(c.differing == 0u);
}

BOOST_AUTO_TEST_CASE(three_and_four_byte_sequences_broken_anywhere_match_nlohmann) {
  // Every lead byte of a longer sequence, with second and third bytes around the edges of the
  // continuation ranges, followed by a byte that continues, ends or breaks it.
  const unsigned char edges[] = {0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f,
                                 0xa0, 0xbf, 0xc0, 0xc2, 0xe0, 0xf0, 0xff};
  comparison c;
  for (int lead = 0xe0; lead <= 0xff; ++lead) {
    for (auto second : edges) {
      for (auto third : edges) {
        for (auto fourth : edges) {
          const std::string s{static_cast<char>(lead), static_cast<char>(second),
                              static_cast<char>(third), static_cast<char>(fourth)};
          c.check(s);
          c.check(s.substr(0, 3));
          c.check("x" + s + "\"");
        }
      }
    }
  }
  BOOST_TEST(c.differing == 0u);
}

BOOST_AUTO_TEST_CASE(every_code_point_in_valid_utf8_matches_nlohmann) {
  comparison c;
  for (std::uint32_t cp = 0; cp <= 0x10FFFF; ++cp) {
    if (cp >= 0xD800 && cp <= 0xDFFF) {
      continue;
    }
    c.check(utf8_of(cp));
  }
  BOOST_TEST(c.differing == 0u);
}

BOOST_AUTO_TEST_CASE(random_byte_strings_match_nlohmann) {
  std::mt19937 random{20261205};
  // Biased towards the bytes that start, continue and break UTF-8 sequences.
  const unsigned char interesting[] = {0x00, 0x1f, 0x20, 0x22, 0x5c, 0x7f, 0x80, 0x9f,
                                       0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xed,
                                       0xef, 0xf0, 0xf4, 0xf5, 0xff, 'a',  '/',  '-'};
  comparison c;
  for (int n = 0; n < 200000; ++n) {
    std::string s(random() % 24, '\0');
    for (auto& ch : s) {
      ch = static_cast<char>(random() % 2 ? interesting[random() % sizeof interesting]
                                          : random() % 256);
    }
    c.check(s);
  }
  BOOST_TEST(c.differing == 0u);
}
