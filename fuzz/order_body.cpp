// fuzz_order_body: bytes -> the JSON body decoding of POST /orders and
// POST /inventory/{sku}/restock (gateway/order_request.hpp). Every input is given to both parsers.
// A rejected body must be a well-formed 400/422 problem; an accepted one must keep every limit the
// API documents, name no member twice, and written back as JSON be accepted as the same command.

#include "fuzz/oracle.hpp"

#include "actors/order/state.hpp"
#include "gateway/order_request.hpp"
#include "psp/client/card_tokens.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace ordermesh;
using namespace ordermesh::gateway;
using nlohmann::json;

/// Whether some object in `body` names a member twice, at any depth: a SAX pass of its own, so
/// that the check does not share a bug with the gateway's parser callback. False when `body` is
/// not JSON.
bool has_duplicate_names(std::string_view body) {
  struct finder final : nlohmann::json_sax<json> {
    std::vector<std::set<std::string>> open; // one set per open object or array
    bool found = false;
    bool null() override { return true; }
    bool boolean(bool) override { return true; }
    bool number_integer(number_integer_t) override { return true; }
    bool number_unsigned(number_unsigned_t) override { return true; }
    bool number_float(number_float_t, const string_t&) override { return true; }
    bool string(string_t&) override { return true; }
    bool binary(binary_t&) override { return true; }
    bool start_object(std::size_t) override { return open.emplace_back(), true; }
    bool key(string_t& name) override {
      found = found || !open.back().insert(name).second;
      return true;
    }
    bool end_object() override { return open.pop_back(), true; }
    bool start_array(std::size_t) override { return open.emplace_back(), true; }
    bool end_array() override { return open.pop_back(), true; }
    bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
      return false;
    }
  } sax;
  const bool parsed = json::sax_parse(body.begin(), body.end(), &sax);
  return parsed && sax.found;
}

bool lower_hex(std::string_view s, std::size_t length) {
  return s.size() == length && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

void check_order(const order_input& o) {
  FUZZ_CHECK(valid_id(o.customer_id));
  FUZZ_CHECK(!o.lines.empty() && o.lines.size() <= actors::order::max_lines);
  std::set<std::string> skus;
  for (const auto& line : o.lines) {
    FUZZ_CHECK(valid_id(line.sku));
    FUZZ_CHECK(line.qty >= 1 && line.qty <= actors::order::max_line_qty);
    FUZZ_CHECK(skus.insert(line.sku).second);
  }
  // Only a token the PSP stand-in can accept gets through (psp/client/card_tokens.hpp).
  FUZZ_CHECK(psp::accepts_card_token(o.card_token));
  FUZZ_CHECK(o.amount_cents >= 1 && o.amount_cents <= limits::max_amount_cents);
  const auto print = fingerprint(o);
  FUZZ_CHECK(lower_hex(print, 16));

  json lines = json::array();
  for (const auto& line : o.lines) {
    lines.push_back({{"sku", line.sku}, {"qty", line.qty}});
  }
  const json again{{"customer_id", o.customer_id},
                   {"lines", std::move(lines)},
                   {"payment", {{"card_token", o.card_token}, {"amount_cents", o.amount_cents}}}};
  auto reparsed = parse_order(again.dump());
  const auto* same = std::get_if<order_input>(&reparsed);
  FUZZ_CHECK(same != nullptr);
  FUZZ_CHECK(fingerprint(*same) == print);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  const std::string_view body{reinterpret_cast<const char*>(data), size};

  auto order = parse_order(body);
  if (const auto* p = std::get_if<problem_details>(&order)) {
    fuzz::check_body_problem(*p);
  } else {
    FUZZ_CHECK(!has_duplicate_names(body)); // two parsers must not disagree on which value wins
    check_order(std::get<order_input>(order));
  }

  auto restock = parse_restock(body);
  if (const auto* p = std::get_if<problem_details>(&restock)) {
    fuzz::check_body_problem(*p);
  } else {
    FUZZ_CHECK(!has_duplicate_names(body));
    const auto qty = std::get<int64_t>(restock);
    FUZZ_CHECK(qty >= 1 && qty <= limits::max_restock_qty);
    auto again = parse_restock(json{{"qty", qty}}.dump());
    FUZZ_CHECK(std::holds_alternative<int64_t>(again) && std::get<int64_t>(again) == qty);
  }
  return 0;
}
