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

} // namespace ordermesh::persistence
