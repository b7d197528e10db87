#pragma once

// The pure part of the order API: what a request says, checked, before anything is sent anywhere.
// No I/O here; every function is a value in, value out, and unit-tested.

#include "actors/order/messages.hpp"
#include "gateway/problem.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace ordermesh::gateway {

/// Problem types of the API (RFC 9457 "type"), one per kind of failure a client can act on.
namespace problem_type {
inline constexpr const char* malformed_json = "urn:ordermesh:problem:malformed-json";
inline constexpr const char* invalid_request = "urn:ordermesh:problem:invalid-request";
inline constexpr const char* unknown_sku = "urn:ordermesh:problem:unknown-sku";
inline constexpr const char* idempotency_key = "urn:ordermesh:problem:idempotency-key";
inline constexpr const char* idempotency_key_reused =
    "urn:ordermesh:problem:idempotency-key-reused";
inline constexpr const char* order_rejected = "urn:ordermesh:problem:order-rejected";
inline constexpr const char* order_cancelled = "urn:ordermesh:problem:order-cancelled";
inline constexpr const char* not_found = "urn:ordermesh:problem:not-found";
inline constexpr const char* unauthorized = "urn:ordermesh:problem:unauthorized";
inline constexpr const char* rate_limited = "urn:ordermesh:problem:rate-limited";
inline constexpr const char* overloaded = "urn:ordermesh:problem:overloaded";
inline constexpr const char* unavailable = "urn:ordermesh:problem:unavailable";
inline constexpr const char* deadline_exceeded = "urn:ordermesh:problem:deadline-exceeded";
inline constexpr const char* internal = "urn:ordermesh:problem:internal";
} // namespace problem_type

/// Limits a request must keep; the order core's own limits (lines, qty) are the same.
namespace limits {
inline constexpr size_t max_id_length = 64;
inline constexpr size_t max_idempotency_key_length = 128;
inline constexpr size_t max_card_token_length = 128;
inline constexpr int64_t max_amount_cents = 1'000'000'000;
inline constexpr int64_t max_restock_qty = 1'000'000;
inline constexpr int32_t default_page_size = 20;
inline constexpr int32_t max_page_size = 100;
} // namespace limits

/// A POST /orders body that passed every check.
struct order_input {
  std::string customer_id;
  std::vector<actors::order::order_line> lines;
  std::string card_token;
  int64_t amount_cents = 0;
};

/// The body of POST /orders, `{"customer_id", "lines": [{"sku", "qty"}], "payment": {"card_token",
/// "amount_cents"}}`, or the problem to answer: 400 malformed JSON, 422 invalid-request with an
/// "errors" member listing every field that is wrong ({"pointer": "/lines/0/qty", "detail"}).
std::variant<order_input, problem_details> parse_order(std::string_view body);

/// The body of POST /inventory/{sku}/restock, `{"qty": n}` with 1 <= n <= max_restock_qty, or the
/// problem to answer (400 / 422 as parse_order).
std::variant<int64_t, problem_details> parse_restock(std::string_view body);

/// Whether `id` can name a customer or a SKU: 1 to max_id_length of [A-Za-z0-9._:-].
bool valid_id(std::string_view id);

/// Whether `key` can be an Idempotency-Key: 1 to max_idempotency_key_length visible ASCII chars.
bool valid_idempotency_key(std::string_view key);

/// The order id for (client, idempotency key): the same pair always gives the same id, so a retry
/// is the same order even when nothing but the journal remembers the first attempt. "o" + 32 hex.
std::string order_id_for(std::string_view client, std::string_view idempotency_key);

/// A digest of what the order says (not how the JSON was spelled): two bodies with the same
/// fingerprint place the same order. 16 hex chars.
std::string fingerprint(const order_input& order);

/// The query string's parameters, percent-decoded ('+' is a space); nullopt if an escape is broken.
/// A repeated name keeps its first value.
std::optional<std::map<std::string, std::string>> parse_query(std::string_view query);

/// Where the next page of a listing starts, made opaque for clients ("c1." + base64url).
struct page_cursor {
  int64_t placed_at_us = 0;
  std::string order_id;
};
std::string encode_cursor(const page_cursor& c);
std::optional<page_cursor> decode_cursor(std::string_view text);

/// A non-negative decimal integer of at most 18 digits; nullopt otherwise.
std::optional<int64_t> parse_count(std::string_view text);

/// The caller's W3C `traceparent` header (Trace Context, section 3.2) when it is valid, written
/// as version 00; nullopt when it is not (absent, malformed, upper-case hex, an all-zero id,
/// version ff), and the gateway then starts a fresh trace, as the spec says. A version above 00 is
/// read as version 00 from its first 55 characters (anything after them must follow a '-').
std::optional<std::string> parse_traceparent(std::string_view header);

/// An answer for a rejected request: the problem with this status, type and detail.
problem_details problem(unsigned status, const char* type, std::string detail);

} // namespace ordermesh::gateway
