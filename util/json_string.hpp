#pragma once

#include <cstddef>
#include <string_view>

namespace ordermesh::util {

namespace detail {

/// How many bytes from `s[i]` (a byte >= 0x80) belong to one UTF-8 sequence: `length` is the
/// sequence's full length when they are all there and valid, else the length of its longest
/// valid prefix (at least 1), which is replaced as a whole, `complete` saying which.
struct utf8_span {
  std::size_t length;
  bool complete;
};

inline utf8_span utf8_sequence_at(std::string_view s, std::size_t i) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  std::size_t needed = 0;
  // The second byte's range excludes overlong forms (E0, F0), UTF-16 surrogates (ED) and code
  // points above U+10FFFF (F4); later bytes are any continuation byte.
  unsigned char lo = 0x80;
  unsigned char hi = 0xBF;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    needed = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    needed = 3;
    lo = b0 == 0xE0 ? 0xA0 : 0x80;
    hi = b0 == 0xED ? 0x9F : 0xBF;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    needed = 4;
    lo = b0 == 0xF0 ? 0x90 : 0x80;
    hi = b0 == 0xF4 ? 0x8F : 0xBF;
  } else {
    return {1, false};
  }
  std::size_t n = 1;
  while (n < needed && i + n < s.size()) {
    const auto b = static_cast<unsigned char>(s[i + n]);
    if (b < lo || b > hi) {
      break;
    }
    lo = 0x80;
    hi = 0xBF;
    ++n;
  }
  return {n, n == needed};
}

} // namespace detail

/// Appends `text` to `out` as a JSON string literal, quotes included, byte for byte as
/// nlohmann::json's `dump(-1, ' ', false, error_handler_t::replace)` writes a string: `"` and `\`
/// escaped, control characters as \b \t \n \f \r or \u00xx, valid UTF-8 copied as it is, and each
/// invalid sequence (a stray byte, or the longest valid prefix of a truncated or broken sequence)
/// replaced by one U+FFFD. Never throws on any bytes. `Buffer`: std::string or spdlog's memory
/// buffer (anything with `append(const char*, const char*)` and `push_back(char)`).
template <class Buffer>
void append_json_string(Buffer& out, std::string_view text) {
  constexpr char hex[] = "0123456789abcdef";
  constexpr std::string_view replacement = "\xEF\xBF\xBD";
  const auto append = [&out](std::string_view part) {
    out.append(part.data(), part.data() + part.size());
  };
  out.push_back('"');
  std::size_t plain_from = 0; // start of the run of bytes copied as they are
  std::size_t i = 0;
  const auto flush_plain = [&] { append(text.substr(plain_from, i - plain_from)); };
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
      ++i;
      continue;
    }
    if (c >= 0x80) {
      const auto seq = detail::utf8_sequence_at(text, i);
      if (seq.complete) {
        i += seq.length;
        continue;
      }
      flush_plain();
      append(replacement);
      i += seq.length;
      plain_from = i;
      continue;
    }
    flush_plain();
    switch (c) {
      case '"':
        append("\\\"");
        break;
      case '\\':
        append("\\\\");
        break;
      case '\b':
        append("\\b");
        break;
      case '\f':
        append("\\f");
        break;
      case '\n':
        append("\\n");
        break;
      case '\r':
        append("\\r");
        break;
      case '\t':
        append("\\t");
        break;
      default:
        append("\\u00");
        out.push_back(hex[c >> 4]);
        out.push_back(hex[c & 0xf]);
    }
    ++i;
    plain_from = i;
  }
  flush_plain();
  out.push_back('"');
}

} // namespace ordermesh::util
