#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ordermesh::persistence {

/// A PostgreSQL array literal of text elements, e.g. {"a","b\"c"}, for one parameter of a batch.
std::string sql_text_array(const std::vector<std::string>& items);

/// A PostgreSQL array literal of integers, e.g. {1,2,3}.
std::string sql_int_array(const std::vector<int64_t>& items);

/// A one-dimensional PostgreSQL array in its binary wire format (what array_send writes), for a
/// parameter sent in binary: the server neither parses a literal nor unescapes an element, and
/// nothing is quoted here. Holds exactly the `count` elements given at construction, added in
/// order with the `add` of its element type; the parameter's SQL type must be that array type.
class binary_array {
public:
  /// PostgreSQL type OIDs of the element types supported.
  enum class element : uint32_t { boolean = 16, int8 = 20, int4 = 23, text = 25, jsonb = 3802 };

  binary_array(element type, size_t count);

  /// Appends a text element (type text) or a JSON text (type jsonb; the server parses it).
  void add(std::string_view text);
  /// Appends an int8 element.
  void add_int8(int64_t x);
  /// Appends an int4 element.
  void add_int4(int32_t x);
  /// Appends a boolean element.
  void add_bool(bool x);

  /// The encoded array.
  const std::string& bytes() const { return bytes_; }

private:
  void put_uint32(uint32_t x);
  void put_uint64(uint64_t x);

  element type_;
  std::string bytes_;
};

} // namespace ordermesh::persistence
