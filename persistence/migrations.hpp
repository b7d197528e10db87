#pragma once

#include <string>
#include <vector>

namespace ordermesh::persistence {

/// One versioned schema change, from persistence/migrations/<version>_<name>.sql.
struct migration {
  int version;
  std::string name;
  std::string sql;
};

/// All migrations in version order (generated at build time).
const std::vector<migration>& migrations();

} // namespace ordermesh::persistence
