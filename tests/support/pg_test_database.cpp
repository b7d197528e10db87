#include "tests/support/pg_test_database.hpp"

#include "config/loader.hpp"
#include "persistence/pg_event_store.hpp"

#include <boost/test/unit_test.hpp>
#include <pqxx/pqxx>

#include <atomic>
#include <cstdlib>
#include <random>
#include <unistd.h>

namespace ordermesh::testing {

config::app_config config_from_environment() {
  auto env = config::process_env();
  if (env.count("ORDERMESH_PG_DBNAME") == 0) {
    env["ORDERMESH_PG_DBNAME"] = "postgres";
  }
  auto result = config::load(config::load_input{{}, env, {}, {}});
  if (auto* err = std::get_if<config::config_error>(&result)) {
    BOOST_FAIL(err->line());
  }
  return std::get<config::loaded_config>(result).values;
}

namespace {

std::string unique_name() {
  static std::atomic<int> counter{0};
  std::random_device rd;
  return "om_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++) + "_" +
         std::to_string(rd() % 100000);
}

std::string admin_connection(const config::pg_config& pg) {
  auto admin = pg;
  admin.dbname = "postgres";
  return persistence::pg_event_store::connection_string(admin);
}

} // namespace

pg_test_database::pg_test_database(bool migrated) : config_(config_from_environment()) {
  config_.pg.dbname = unique_name();
  {
    pqxx::connection admin{admin_connection(config_.pg)};
    pqxx::nontransaction tx{admin};
    tx.exec0("CREATE DATABASE " + tx.quote_name(config_.pg.dbname));
  }
  if (migrated) {
    persistence::pg_event_store store{config_.pg, config_.journal};
    auto applied = store.migrate();
    if (!applied) {
      BOOST_FAIL("migrate: " << applied.error().detail);
    }
  }
}

pg_test_database::~pg_test_database() {
  try {
    pqxx::connection admin{admin_connection(config_.pg)};
    pqxx::nontransaction tx{admin};
    tx.exec0("DROP DATABASE IF EXISTS " + tx.quote_name(config_.pg.dbname) + " WITH (FORCE)");
  } catch (const std::exception& e) {
    BOOST_TEST_MESSAGE("could not drop " << config_.pg.dbname << ": " << e.what());
  }
}

std::string pg_test_database::query_value(const std::string& sql) const {
  pqxx::connection c{persistence::pg_event_store::connection_string(config_.pg)};
  pqxx::work tx{c};
  auto r = tx.exec(sql);
  tx.commit();
  if (r.empty() || r[0][0].is_null()) {
    return "";
  }
  return r[0][0].as<std::string>();
}

void run_services(const std::string& action) {
  const char* services = std::getenv("OM_SERVICES");
  BOOST_REQUIRE_MESSAGE(services != nullptr && *services != '\0',
                        "OM_SERVICES is not set: run the integration tests through scripts/test");
  auto command = std::string{services} + " test " + action;
  BOOST_REQUIRE_MESSAGE(std::system(command.c_str()) == 0, "failed: " << command);
}

} // namespace ordermesh::testing
