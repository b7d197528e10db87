#include "gateway/order_request.hpp"

#include "actors/order/state.hpp"
#include "psp/client/card_tokens.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <functional>
#include <limits>
#include <set>

namespace ordermesh::gateway {

namespace {

using nlohmann::json;

/// FNV-1a, 64 bits, from `basis`: stable across builds and machines (std::hash is not).
uint64_t fnv1a(std::string_view data, uint64_t basis = 14695981039346656037ull) {
  uint64_t h = basis;
  for (unsigned char c : data) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

/// MurmurHash3's finalizer: spreads every input bit over the whole word, so that ids of similar
/// keys do not look alike.
uint64_t mix(uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ull;
  h ^= h >> 33;
  return h;
}

std::string hex(uint64_t x) {
  char out[17];
  std::snprintf(out, sizeof out, "%016llx", static_cast<unsigned long long>(x));
  return out;
}

/// Collects what is wrong with a request body, one entry per field.
class field_errors {
public:
  void add(std::string pointer, std::string detail) {
    errors_.push_back({{"pointer", std::move(pointer)}, {"detail", std::move(detail)}});
  }
  bool empty() const { return errors_.empty(); }
  problem_details to_problem(const std::string& what) const {
    auto p = problem(422, problem_type::invalid_request,
                     what + ": " + errors_.front()["detail"].get<std::string>() +
                         (errors_.size() > 1
                              ? " (and " + std::to_string(errors_.size() - 1) + " more, see errors)"
                              : ""));
    p.extensions["errors"] = errors_;
    return p;
  }

private:
  json errors_ = json::array();
};

/// Finds the first member name that appears twice in one object, at any depth, while nlohmann's
/// parser reads the document (its DOM would silently keep the last one).
class duplicate_finder {
public:
  /// For json::parse's callback; always keeps what was parsed.
  bool operator()(int /*depth*/, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
        frames_.push_back({true, {}, {}, 0});
        break;
      case json::parse_event_t::array_start:
        frames_.push_back({false, {}, {}, 0});
        break;
      case json::parse_event_t::key: {
        auto& top = frames_.back();
        top.key = parsed.get<std::string>();
        if (!top.names.insert(top.key).second && !duplicate_) {
          duplicate_ = pointer();
        }
        break;
      }
      case json::parse_event_t::object_end:
      case json::parse_event_t::array_end:
        frames_.pop_back();
        next_element();
        break;
      case json::parse_event_t::value:
        next_element();
        break;
    }
    return true;
  }

  /// The JSON pointer of the first repeated member, if any.
  const std::optional<std::string>& duplicate() const { return duplicate_; }

private:
  struct frame {
    bool object;
    std::set<std::string> names;
    std::string key; // of an object: the member being read
    size_t index;    // of an array: the element being read
  };

  void next_element() {
    if (!frames_.empty() && !frames_.back().object) {
      ++frames_.back().index;
    }
  }

  /// Where the parser is now (RFC 6901: '~' as "~0", '/' as "~1").
  std::string pointer() const {
    std::string out;
    for (const auto& f : frames_) {
      out += '/';
      if (!f.object) {
        out += std::to_string(f.index);
        continue;
      }
      for (char c : f.key) {
        out += c == '~' ? std::string{"~0"} : c == '/' ? std::string{"~1"} : std::string(1, c);
      }
    }
    return out;
  }

  std::vector<frame> frames_;
  std::optional<std::string> duplicate_;
};

std::optional<json> parse_json_object(std::string_view body, problem_details& problem_out) {
  duplicate_finder duplicates;
  auto doc = json::parse(body.begin(), body.end(), std::ref(duplicates), false);
  if (doc.is_discarded()) {
    problem_out = problem(400, problem_type::malformed_json, "the body is not valid JSON");
    return std::nullopt;
  }
  if (const auto& at = duplicates.duplicate()) {
    // Two parsers that disagree on which duplicate wins is how validation gets bypassed.
    problem_out = problem(400, problem_type::malformed_json,
                          "the body names member " + *at + " twice; name each member once");
    problem_out.extensions["errors"] =
        json::array({{{"pointer", *at}, {"detail", "duplicate member name"}}});
    return std::nullopt;
  }
  if (!doc.is_object()) {
    problem_out = problem(400, problem_type::malformed_json, "the body must be a JSON object");
    return std::nullopt;
  }
  return doc;
}

void reject_unknown_members(const json& object, const std::string& pointer,
                            std::initializer_list<const char*> known, field_errors& errors) {
  for (const auto& member : object.items()) {
    // Not a structured binding: C++17 lets no lambda capture one (clang refuses, g++ allows).
    const std::string& name = member.key();
    if (std::none_of(known.begin(), known.end(), [&](const char* k) { return name == k; })) {
      errors.add(pointer + "/" + name, "unknown member '" + name + "'");
    }
  }
}

/// The member as an integer in [min, max], or an error entry.
std::optional<int64_t> integer_member(const json& object, const std::string& pointer,
                                      const char* name, int64_t min, int64_t max,
                                      field_errors& errors) {
  const auto where = pointer + "/" + name;
  auto it = object.find(name);
  if (it == object.end()) {
    errors.add(where, std::string{name} + " is required");
    return std::nullopt;
  }
  if (!it->is_number_integer()) {
    errors.add(where, std::string{name} + " must be an integer");
    return std::nullopt;
  }
  const bool is_unsigned = it->is_number_unsigned();
  if (is_unsigned && it->get<uint64_t>() > static_cast<uint64_t>(max)) {
    errors.add(where, std::string{name} + " must be between " + std::to_string(min) + " and " +
                          std::to_string(max));
    return std::nullopt;
  }
  const auto v = is_unsigned ? static_cast<int64_t>(it->get<uint64_t>()) : it->get<int64_t>();
  if (v < min || v > max) {
    errors.add(where, std::string{name} + " must be between " + std::to_string(min) + " and " +
                          std::to_string(max));
    return std::nullopt;
  }
  return v;
}

/// The member as a string accepted by `valid`, or an error entry.
std::optional<std::string> string_member(const json& object, const std::string& pointer,
                                         const char* name, bool (*valid)(std::string_view),
                                         const char* rule, field_errors& errors) {
  const auto where = pointer + "/" + name;
  auto it = object.find(name);
  if (it == object.end()) {
    errors.add(where, std::string{name} + " is required");
    return std::nullopt;
  }
  if (!it->is_string()) {
    errors.add(where, std::string{name} + " must be a string");
    return std::nullopt;
  }
  auto v = it->get<std::string>();
  if (!valid(v)) {
    errors.add(where, std::string{name} + " must be " + rule);
    return std::nullopt;
  }
  return v;
}

bool valid_card_token(std::string_view token) { return psp::accepts_card_token(token); }

constexpr const char* id_rule = "1 to 64 characters of A-Z a-z 0-9 . _ : -";

} // namespace

problem_details problem(unsigned status, const char* type, std::string detail) {
  problem_details p;
  p.status = status;
  p.type = type;
  p.detail = std::move(detail);
  return p;
}

bool valid_id(std::string_view id) {
  return !id.empty() && id.size() <= limits::max_id_length &&
         std::all_of(id.begin(), id.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == ':' || c == '-';
         });
}

bool valid_idempotency_key(std::string_view key) {
  return !key.empty() && key.size() <= limits::max_idempotency_key_length &&
         std::all_of(key.begin(), key.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

std::variant<order_input, problem_details> parse_order(std::string_view body) {
  problem_details bad;
  auto doc = parse_json_object(body, bad);
  if (!doc) {
    return bad;
  }
  field_errors errors;
  order_input out;
  reject_unknown_members(*doc, "", {"customer_id", "lines", "payment"}, errors);
  if (auto v = string_member(*doc, "", "customer_id", valid_id, id_rule, errors)) {
    out.customer_id = *v;
  }
  auto lines = doc->find("lines");
  if (lines == doc->end()) {
    errors.add("/lines", "lines is required");
  } else if (!lines->is_array()) {
    errors.add("/lines", "lines must be an array");
  } else if (lines->empty() || lines->size() > actors::order::max_lines) {
    errors.add("/lines",
               "an order has 1 to " + std::to_string(actors::order::max_lines) + " lines");
  } else {
    std::set<std::string> skus;
    for (size_t i = 0; i < lines->size(); ++i) {
      const auto& line = (*lines)[i];
      const auto where = "/lines/" + std::to_string(i);
      if (!line.is_object()) {
        errors.add(where, "a line must be an object {sku, qty}");
        continue;
      }
      reject_unknown_members(line, where, {"sku", "qty"}, errors);
      auto sku = string_member(line, where, "sku", valid_id, id_rule, errors);
      auto qty = integer_member(line, where, "qty", 1, actors::order::max_line_qty, errors);
      if (sku && !skus.insert(*sku).second) {
        errors.add(where + "/sku", "sku " + *sku + " appears on more than one line");
      } else if (sku && qty) {
        out.lines.push_back({*sku, static_cast<int32_t>(*qty)});
      }
    }
  }
  auto payment = doc->find("payment");
  if (payment == doc->end()) {
    errors.add("/payment", "payment is required");
  } else if (!payment->is_object()) {
    errors.add("/payment", "payment must be an object {card_token, amount_cents}");
  } else {
    reject_unknown_members(*payment, "/payment", {"card_token", "amount_cents"}, errors);
    if (auto v = string_member(*payment, "/payment", "card_token", valid_card_token,
                               "a token of the PSP: \"tok_\" and 1 to 64 of A-Z a-z 0-9 _ "
                               "(see the test tokens in openapi.json)",
                               errors)) {
      out.card_token = *v;
    }
    if (auto v = integer_member(*payment, "/payment", "amount_cents", 1, limits::max_amount_cents,
                                errors)) {
      out.amount_cents = *v;
    }
  }
  if (!errors.empty()) {
    return errors.to_problem("invalid order");
  }
  return out;
}

std::variant<int64_t, problem_details> parse_restock(std::string_view body) {
  problem_details bad;
  auto doc = parse_json_object(body, bad);
  if (!doc) {
    return bad;
  }
  field_errors errors;
  reject_unknown_members(*doc, "", {"qty"}, errors);
  auto qty = integer_member(*doc, "", "qty", 1, limits::max_restock_qty, errors);
  if (!errors.empty()) {
    return errors.to_problem("invalid restock");
  }
  return *qty;
}

std::string order_id_for(std::string_view client, std::string_view idempotency_key) {
  // Length-prefixed, so that no other (client, key) pair spells the same input.
  std::string pair = std::to_string(client.size()) + ':';
  pair += client;
  pair += idempotency_key;
  // Two independent 64-bit digests: 128 bits make an accidental collision between keys negligible.
  return "o" + hex(mix(fnv1a(pair))) + hex(mix(fnv1a(pair, 0x9e3779b97f4a7c15ull)));
}

std::string fingerprint(const order_input& order) {
  std::string canonical =
      order.customer_id + '\n' + order.card_token + '\n' + std::to_string(order.amount_cents);
  for (const auto& line : order.lines) {
    canonical += '\n' + line.sku + ' ' + std::to_string(line.qty);
  }
  return hex(mix(fnv1a(canonical)));
}

std::optional<std::string> parse_traceparent(std::string_view header) {
  // version "-" trace-id "-" parent-id "-" trace-flags, each lowercase hex (W3C Trace Context).
  auto lower_hex = [](std::string_view s) {
    return std::all_of(s.begin(), s.end(),
                       [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
  };
  auto all_zero = [](std::string_view s) {
    return std::all_of(s.begin(), s.end(), [](char c) { return c == '0'; });
  };
  if (header.size() < 55) {
    return std::nullopt;
  }
  const auto version = header.substr(0, 2);
  const auto trace_id = header.substr(3, 32);
  const auto parent_id = header.substr(36, 16);
  const auto flags = header.substr(53, 2);
  const bool layout = header[2] == '-' && header[35] == '-' && header[52] == '-';
  // Version 00 is exactly 55 characters; a later version may append fields after a '-'.
  const bool length =
      version == "00" ? header.size() == 55 : header.size() == 55 || header[55] == '-';
  if (!layout || !length || !lower_hex(version) || version == "ff" || !lower_hex(trace_id) ||
      all_zero(trace_id) || !lower_hex(parent_id) || all_zero(parent_id) || !lower_hex(flags)) {
    return std::nullopt;
  }
  return "00-" + std::string{trace_id} + "-" + std::string{parent_id} + "-" + std::string{flags};
}

std::optional<std::map<std::string, std::string>> parse_query(std::string_view query) {
  auto decode = [](std::string_view in) -> std::optional<std::string> {
    std::string out;
    for (size_t i = 0; i < in.size(); ++i) {
      if (in[i] == '+') {
        out += ' ';
      } else if (in[i] == '%') {
        if (i + 2 >= in.size()) {
          return std::nullopt;
        }
        auto digit = [](char c) -> int {
          if (c >= '0' && c <= '9')
            return c - '0';
          if (c >= 'a' && c <= 'f')
            return c - 'a' + 10;
          if (c >= 'A' && c <= 'F')
            return c - 'A' + 10;
          return -1;
        };
        const int hi = digit(in[i + 1]);
        const int lo = digit(in[i + 2]);
        if (hi < 0 || lo < 0) {
          return std::nullopt;
        }
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
      } else {
        out += in[i];
      }
    }
    return out;
  };
  std::map<std::string, std::string> params;
  while (!query.empty()) {
    const auto amp = query.find('&');
    auto pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (pair.empty()) {
      continue;
    }
    const auto eq = pair.find('=');
    auto name = decode(pair.substr(0, eq));
    auto value = decode(eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1));
    if (!name || !value) {
      return std::nullopt;
    }
    params.emplace(std::move(*name), std::move(*value));
  }
  return params;
}

namespace {

constexpr const char* base64url_alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

std::string base64url(std::string_view in) {
  std::string out;
  uint32_t buffer = 0;
  int bits = 0;
  for (unsigned char c : in) {
    buffer = (buffer << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += base64url_alphabet[(buffer >> bits) & 0x3f];
    }
  }
  if (bits > 0) {
    out += base64url_alphabet[(buffer << (6 - bits)) & 0x3f];
  }
  return out;
}

std::optional<std::string> unbase64url(std::string_view in) {
  std::string out;
  uint32_t buffer = 0;
  int bits = 0;
  for (char c : in) {
    const char* at = std::strchr(base64url_alphabet, c);
    if (c == '\0' || at == nullptr) {
      return std::nullopt;
    }
    buffer = (buffer << 6) | static_cast<uint32_t>(at - base64url_alphabet);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buffer >> bits) & 0xff);
    }
  }
  return out;
}

} // namespace

std::string encode_cursor(const page_cursor& c) {
  return "c1." + base64url(std::to_string(c.placed_at_us) + ":" + c.order_id);
}

std::optional<page_cursor> decode_cursor(std::string_view text) {
  if (text.substr(0, 3) != "c1.") {
    return std::nullopt;
  }
  auto raw = unbase64url(text.substr(3));
  if (!raw) {
    return std::nullopt;
  }
  const auto colon = raw->find(':');
  if (colon == std::string::npos) {
    return std::nullopt;
  }
  auto micros = parse_count(std::string_view{*raw}.substr(0, colon));
  auto id = raw->substr(colon + 1);
  if (!micros || id.empty() || id.size() > 256) {
    return std::nullopt;
  }
  return page_cursor{*micros, id};
}

std::optional<int64_t> parse_count(std::string_view text) {
  if (text.empty() || text.size() > 18) {
    return std::nullopt;
  }
  int64_t n = 0;
  for (char c : text) {
    if (c < '0' || c > '9') {
      return std::nullopt;
    }
    n = n * 10 + (c - '0');
  }
  return n;
}

} // namespace ordermesh::gateway
