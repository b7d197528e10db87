#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ordermesh::persistence {

/// A PostgreSQL array literal of text elements, e.g. {"a","b\"c"}, for one parameter of a batch.
std::string sql_text_array(const std::vector<std::string>& items);

/// A PostgreSQL array literal of integers, e.g. {1,2,3}.
std::string sql_int_array(const std::vector<int64_t>& items);

} // namespace ordermesh::persistence
