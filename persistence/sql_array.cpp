#include "persistence/sql_array.hpp"

namespace ordermesh::persistence {

std::string sql_text_array(const std::vector<std::string>& items) {
  std::string out;
  size_t size = 2;
  for (const auto& item : items) {
    size += item.size() + 3;
  }
  out.reserve(size + size / 8);
  out += '{';
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) {
      out += ',';
    }
    out += '"';
    for (char c : items[i]) {
      if (c == '"' || c == '\\') {
        out += '\\';
      }
      out += c;
    }
    out += '"';
  }
  out += '}';
  return out;
}

std::string sql_int_array(const std::vector<int64_t>& items) {
  std::string out = "{";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) {
      out += ',';
    }
    out += std::to_string(items[i]);
  }
  out += '}';
  return out;
}

binary_array::binary_array(element type, size_t count) : type_(type) {
  bytes_.reserve(20 + count * 12);
  put_uint32(1); // dimensions
  put_uint32(0); // no nulls
  put_uint32(static_cast<uint32_t>(type));
  put_uint32(static_cast<uint32_t>(count)); // elements in the one dimension
  put_uint32(1);                            // its lower bound
}

void binary_array::add(std::string_view text) {
  const bool json = type_ == element::jsonb;
  put_uint32(static_cast<uint32_t>(text.size() + (json ? 1 : 0)));
  if (json) {
    bytes_ += '\x01'; // jsonb's binary format: a version byte, then the JSON text
  }
  bytes_.append(text.data(), text.size());
}

void binary_array::add_int8(int64_t x) {
  put_uint32(8);
  put_uint64(static_cast<uint64_t>(x));
}

void binary_array::add_int4(int32_t x) {
  put_uint32(4);
  put_uint32(static_cast<uint32_t>(x));
}

void binary_array::add_bool(bool x) {
  put_uint32(1);
  bytes_ += x ? '\x01' : '\x00';
}

void binary_array::put_uint32(uint32_t x) {
  for (int shift = 24; shift >= 0; shift -= 8) {
    bytes_ += static_cast<char>((x >> shift) & 0xff);
  }
}

void binary_array::put_uint64(uint64_t x) {
  put_uint32(static_cast<uint32_t>(x >> 32));
  put_uint32(static_cast<uint32_t>(x));
}

} // namespace ordermesh::persistence
