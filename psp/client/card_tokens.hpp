#pragma once

// The card tokens the PSP stand-in understands, like a real PSP's test cards. One table: the
// stand-in decides by it, the gateway refuses what it can never accept and documents it in
// openapi.json, and the tests place an order per entry. Header-only, no dependencies.

#include <cstddef>
#include <string_view>

namespace ordermesh::psp {

/// What the stand-in answers to an authorization with a token.
enum class card_outcome {
  authorized, ///< 201 authorized: the order is confirmed
  declined,   ///< 402 declined (insufficient_funds): the order is cancelled
};

/// Tokens beginning with `prefix` get `outcome`; the longest matching prefix wins.
struct test_card {
  std::string_view prefix;
  card_outcome outcome;
  /// One token to try, for documentation and tests.
  std::string_view example;
  std::string_view description;
};

/// Every token the stand-in accepts begins with this; any other is refused (422), so an order
/// paid with it could only be cancelled.
inline constexpr std::string_view card_token_prefix = "tok_";

inline constexpr test_card test_cards[] = {
    {"tok_", card_outcome::authorized, "tok_visa", "authorized: the order is confirmed"},
    {"tok_decline", card_outcome::declined, "tok_decline_card",
     "declined (insufficient_funds): the order is cancelled"},
};

/// Most characters after the prefix.
inline constexpr std::size_t max_card_token_suffix = 64;

/// The rule `accepts_card_token` checks, in words (for 422 details and the OpenAPI document).
inline constexpr std::string_view card_token_rule =
    "card_token must be \"tok_\" followed by 1 to 64 of A-Z, a-z, 0-9 and _";

/// Whether the stand-in accepts `token` at all: the prefix, then 1..64 of [A-Za-z0-9_].
constexpr bool accepts_card_token(std::string_view token) {
  if (token.substr(0, card_token_prefix.size()) != card_token_prefix) {
    return false;
  }
  const auto suffix = token.substr(card_token_prefix.size());
  if (suffix.empty() || suffix.size() > max_card_token_suffix) {
    return false;
  }
  for (char c : suffix) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_';
    if (!ok) {
      return false;
    }
  }
  return true;
}

/// What the stand-in does with an accepted token (ignoring the fault knobs, e.g. decline_rate).
constexpr card_outcome outcome_of(std::string_view token) {
  const test_card* best = nullptr;
  for (const auto& card : test_cards) {
    if (token.substr(0, card.prefix.size()) == card.prefix &&
        (best == nullptr || card.prefix.size() > best->prefix.size())) {
      best = &card;
    }
  }
  return best == nullptr ? card_outcome::declined : best->outcome;
}

} // namespace ordermesh::psp
