#pragma once

#include "config/config.hpp"

#include <string>

namespace ordermesh::testing {

/// The configuration the test run was started with (scripts/test exports ORDERMESH_PG_* for the
/// private PostgreSQL it started). Fails the test with the loader's line if it is invalid.
config::app_config config_from_environment();

/// A fresh, empty database on the test server, dropped again (with its connections) at the end.
/// `migrated` applies the event-store migrations.
class pg_test_database {
public:
  explicit pg_test_database(bool migrated = true);
  ~pg_test_database();
  pg_test_database(const pg_test_database&) = delete;
  pg_test_database& operator=(const pg_test_database&) = delete;

  /// The configuration pointing at this database.
  const config::app_config& config() const { return config_; }
  const config::pg_config& pg() const { return config_.pg; }

  /// Runs one SQL statement in its own transaction and returns the first column of the first row
  /// as text ("" when there is none).
  std::string query_value(const std::string& sql) const;

private:
  config::app_config config_;
  std::string admin_dbname_;
};

/// Runs `scripts/services test <action>` (for example "pg-restart"), the command scripts/test
/// exports as OM_SERVICES; fails the test if it is not set or the command fails.
void run_services(const std::string& action);

} // namespace ordermesh::testing
