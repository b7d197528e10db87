#define BOOST_TEST_MODULE event_metadata
#include <boost/test/unit_test.hpp>

#include "actors/runtime/event_metadata.hpp"

#include <nlohmann/json.hpp>

#include <random>
#include <string>
#include <vector>

namespace {

using ordermesh::actors::envelope;
using ordermesh::actors::runtime::event_metadata;

/// The metadata as the runtime wrote it before it wrote it directly (an nlohmann object dumped
/// with invalid UTF-8 replaced): the stored format the direct encoder must keep, byte for byte.
std::string nlohmann_metadata(const envelope& env) {
  return nlohmann::json{{"message_id", env.message_id},
                        {"correlation_id", env.correlation_id},
                        {"causation_id", env.causation_id},
                        {"traceparent", env.traceparent}}
      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

envelope order_envelope() {
  return envelope{"o40804a535efc6c85ef37a04c9e6497e1/settled", "o40804a535efc6c85ef37a04c9e6497e1",
                  "o40804a535efc6c85ef37a04c9e6497e1/payment/o40804a535efc6c85ef37a04c9e6497e1/"
                  "sale/authorized/0",
                  "00-cea62a33563874a2d93c2a7eac8ccdc0-a0b08aaaeddc59c4-01", 0};
}

/// Every field of `base` replaced by `text` in turn, then all four at once.
std::vector<envelope> with_each_field(const envelope& base, const std::string& text) {
  std::vector<envelope> out(5, base);
  out[0].message_id = text;
  out[1].correlation_id = text;
  out[2].causation_id = text;
  out[3].traceparent = text;
  out[4] = envelope{text, text, text, text, 0};
  return out;
}

std::size_t count_differing(const std::vector<envelope>& envs) {
  std::size_t differing = 0;
  for (const auto& env : envs) {
    const auto ours = event_metadata(env);
    const auto reference = nlohmann_metadata(env);
    if (ours != reference && ++differing <= 5) {
      BOOST_ERROR("ours " << ours << " != nlohmann's " << reference);
    }
  }
  return differing;
}

} // namespace

BOOST_AUTO_TEST_CASE(an_order_s_metadata_is_the_sorted_object_without_spaces) {
  BOOST_TEST(
      event_metadata(order_envelope()) ==
      R"({"causation_id":"o40804a535efc6c85ef37a04c9e6497e1/payment/o40804a535efc6c85ef37a04c9e6497e1/sale/authorized/0",)"
      R"("correlation_id":"o40804a535efc6c85ef37a04c9e6497e1",)"
      R"("message_id":"o40804a535efc6c85ef37a04c9e6497e1/settled",)"
      R"("traceparent":"00-cea62a33563874a2d93c2a7eac8ccdc0-a0b08aaaeddc59c4-01"})");
  BOOST_TEST(event_metadata(order_envelope()) == nlohmann_metadata(order_envelope()));
  BOOST_TEST(event_metadata(envelope{}) == nlohmann_metadata(envelope{}));
}

BOOST_AUTO_TEST_CASE(escaped_and_multibyte_fields_match_nlohmann) {
  const std::vector<std::string> texts = {
      "",
      "quote \" here",
      "back\\slash\\",
      "\"\\\"",
      "tab\tnewline\nreturn\rbell\a",
      std::string{"nul\0end", 7},
      "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\xa6 \xf4\x8f\xbf\xbf",
      "truncated \xe2\x82",
      "overlong \xc0\xaf \xe0\x80\xaf \xf0\x80\x80\xaf",
      "surrogate \xed\xa0\x80 beyond \xf4\x90\x80\x80",
      "stray \x80\xbf continuation",
      "{\"message_id\":\"injected\"}",
  };
  std::vector<envelope> envs;
  for (const auto& text : texts) {
    for (auto& env : with_each_field(order_envelope(), text)) {
      envs.push_back(std::move(env));
    }
  }
  BOOST_TEST(count_differing(envs) == 0u);
}

BOOST_AUTO_TEST_CASE(every_single_byte_in_every_field_matches_nlohmann) {
  std::vector<envelope> envs;
  for (int b = 0; b < 256; ++b) {
    const std::string byte(1, static_cast<char>(b));
    for (auto& env : with_each_field(order_envelope(), "id-" + byte + "-" + byte)) {
      envs.push_back(std::move(env));
    }
  }
  BOOST_TEST(count_differing(envs) == 0u);
}

BOOST_AUTO_TEST_CASE(random_byte_strings_in_every_field_match_nlohmann) {
  std::mt19937 random{10};
  const auto random_text = [&] {
    std::string s(random() % 40, '\0');
    for (auto& ch : s) {
      // Half of them plain id characters, so that broken sequences sit inside ordinary ids.
      ch = static_cast<char>(random() % 2 ? 'a' + random() % 26 : random() % 256);
    }
    return s;
  };
  std::vector<envelope> envs;
  for (int n = 0; n < 20000; ++n) {
    envs.push_back(envelope{random_text(), random_text(), random_text(), random_text(), 0});
  }
  BOOST_TEST(count_differing(envs) == 0u);
}
