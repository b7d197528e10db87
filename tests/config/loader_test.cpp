#define BOOST_TEST_MODULE config_loader
#include <boost/test/unit_test.hpp>

#include "config/loader.hpp"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unistd.h>

using namespace ordermesh::config;

namespace {

using file_map = std::map<std::string, std::string>;

/// A load_input whose files come from `files`; pg.dbname is set on the command line unless
/// `with_dbname` is false, so that each test only states what it is about.
load_input make_input(std::vector<std::string> args, std::map<std::string, std::string> env = {},
                      file_map files = {}, bool with_dbname = true) {
  load_input in;
  in.args = std::move(args);
  if (with_dbname) {
    in.args.insert(in.args.begin(), "--pg.dbname=orders");
  }
  in.env = std::move(env);
  in.read_file = [files = std::move(files)](const std::string& path) -> std::optional<std::string> {
    if (const auto it = files.find(path); it != files.end()) {
      return it->second;
    }
    return std::nullopt;
  };
  return in;
}

loaded_config expect_loaded(const load_input& in) {
  auto result = load(in);
  if (const auto* err = std::get_if<config_error>(&result)) {
    BOOST_FAIL("expected a config, got: " << err->line());
  }
  return std::get<loaded_config>(std::move(result));
}

config_error expect_error(const load_input& in) {
  auto result = load(in);
  if (std::holds_alternative<loaded_config>(result)) {
    BOOST_FAIL("expected a config error, got a config");
  }
  return std::get<config_error>(std::move(result));
}

value_source from_file(std::string path) {
  return {source_kind::file, std::move(path)};
}
value_source from_env(std::string name) {
  return {source_kind::env, std::move(name)};
}
value_source from_cli(std::string option) {
  return {source_kind::cli, std::move(option)};
}

} // namespace

namespace ordermesh::config {
// For BOOST_TEST's messages on mismatch.
std::ostream& operator<<(std::ostream& os, const value_source& src) {
  return os << to_string(src);
}
} // namespace ordermesh::config

BOOST_AUTO_TEST_SUITE(layers)

BOOST_AUTO_TEST_CASE(built_in_defaults_fill_every_key_not_given) {
  const auto cfg = expect_loaded(make_input({}));
  const app_config defaults;
  BOOST_TEST(cfg.values.pg.host == defaults.pg.host);
  BOOST_TEST(cfg.values.pg.port == 55432);
  BOOST_TEST(cfg.values.redis.port == 56379);
  BOOST_TEST(cfg.values.journal.max_batch == 512u);
  BOOST_TEST(cfg.values.journal.reconnect_max.count() == 5000);
  BOOST_TEST(cfg.values.log.level == "info");
  BOOST_TEST(cfg.values.pg.password.empty());
  BOOST_TEST(cfg.sources.size() == known_keys().size());
  BOOST_TEST(cfg.sources.at("pg.port") == value_source{});
  BOOST_TEST(to_string(cfg.sources.at("pg.port")) == "default");
}

BOOST_AUTO_TEST_CASE(cli_overrides_env_overrides_file_overrides_default) {
  const auto cfg = expect_loaded(make_input(
      {"--config", "om.json", "--pg.port=1003"},
      {{"ORDERMESH_PG_PORT", "1002"}, {"ORDERMESH_REDIS_PORT", "2002"}},
      {{"om.json", R"({"pg": {"port": 1001, "host": "db.internal"}, "redis": {"port": 2001}})"}}));

  BOOST_TEST(cfg.values.pg.port == 1003);
  BOOST_TEST(cfg.sources.at("pg.port") == from_cli("--pg.port"));
  BOOST_TEST(cfg.values.redis.port == 2002);
  BOOST_TEST(cfg.sources.at("redis.port") == from_env("ORDERMESH_REDIS_PORT"));
  BOOST_TEST(cfg.values.pg.host == "db.internal");
  BOOST_TEST(cfg.sources.at("pg.host") == from_file("om.json"));
  BOOST_TEST(cfg.values.pg.user == "ordermesh");
  BOOST_TEST(cfg.sources.at("pg.user") == value_source{});

  BOOST_TEST(to_string(cfg.sources.at("pg.port")) == "command line --pg.port");
  BOOST_TEST(to_string(cfg.sources.at("redis.port")) == "env ORDERMESH_REDIS_PORT");
  BOOST_TEST(to_string(cfg.sources.at("pg.host")) == "file om.json");
}

BOOST_AUTO_TEST_CASE(the_last_of_repeated_options_wins) {
  const auto cfg = expect_loaded(make_input({"--pg.port=1", "--pg.port", "2"}));
  BOOST_TEST(cfg.values.pg.port == 2);
}

BOOST_AUTO_TEST_CASE(config_file_is_named_by_ORDERMESH_CONFIG_unless_the_command_line_names_one) {
  const file_map files = {{"env.json", R"({"pg": {"user": "from_env_file"}})"},
                          {"cli.json", R"({"pg": {"user": "from_cli_file"}})"}};
  const auto by_env = expect_loaded(make_input({}, {{"ORDERMESH_CONFIG", "env.json"}}, files));
  BOOST_TEST(by_env.values.pg.user == "from_env_file");

  const auto by_cli =
      expect_loaded(make_input({"--config=cli.json"}, {{"ORDERMESH_CONFIG", "env.json"}}, files));
  BOOST_TEST(by_cli.values.pg.user == "from_cli_file");
  BOOST_TEST(by_cli.sources.at("pg.user") == from_file("cli.json"));
}

BOOST_AUTO_TEST_CASE(accepted_flags_and_positional_arguments_are_collected_for_the_caller) {
  load_input in = make_input({"--print-config", "orders", "--pg.host", "h", "--", "--once"});
  in.accepted_flags = {"print-config", "once"};
  const auto cfg = expect_loaded(in);
  BOOST_TEST(cfg.flags == (std::set<std::string>{"print-config"}));
  BOOST_TEST(cfg.positional == (std::vector<std::string>{"orders", "--once"}));
  BOOST_TEST(cfg.values.pg.host == "h");
}

BOOST_AUTO_TEST_CASE(environment_variables_without_the_prefix_are_ignored) {
  const auto cfg = expect_loaded(make_input({}, {{"PATH", "/bin"}, {"PGPORT", "1"}}));
  BOOST_TEST(cfg.values.pg.port == 55432);
}

BOOST_AUTO_TEST_CASE(durations_take_ms_s_m_or_a_json_integer_of_milliseconds) {
  const auto cfg = expect_loaded(make_input({"--journal.reconnect_max=1m"},
                                            {{"ORDERMESH_JOURNAL_RECONNECT_MIN", "2s"}},
                                            {{"f.json", R"({"pg": {"connect_timeout": 1500}})"}}));
  BOOST_TEST(cfg.values.journal.reconnect_max.count() == 60'000);
  BOOST_TEST(cfg.values.journal.reconnect_min.count() == 2'000);
  BOOST_TEST(
      expect_loaded(make_input({"--pg.connect_timeout=250ms"})).values.pg.connect_timeout.count() ==
      250);
  const auto from_json = expect_loaded(
      make_input({"--config=f.json"}, {}, {{"f.json", R"({"pg": {"connect_timeout": 1500}})"}}));
  BOOST_TEST(from_json.values.pg.connect_timeout.count() == 1500);
}

BOOST_AUTO_TEST_CASE(a_real_file_on_disk_is_read_by_default) {
  const auto path = std::filesystem::temp_directory_path() /
                    ("ordermesh_loader_test_" + std::to_string(::getpid()) + ".json");
  {
    std::ofstream out{path};
    out << R"({"redis": {"host": "cache.internal"}})";
  }
  load_input in;
  in.args = {"--pg.dbname=orders", "--config", path.string()};
  const auto cfg = expect_loaded(in);
  std::filesystem::remove(path);
  BOOST_TEST(cfg.values.redis.host == "cache.internal");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(bad_values)

BOOST_AUTO_TEST_CASE(port_zero_is_out_of_range) {
  const auto err = expect_error(make_input({"--pg.port=0"}));
  BOOST_TEST(err.key == "pg.port");
  BOOST_TEST(err.source == from_cli("--pg.port"));
  BOOST_TEST(err.line() == "config error: pg.port = \"0\" (command line --pg.port): out of range; "
                           "must be an integer between 1 and 65535");
}

BOOST_AUTO_TEST_CASE(port_70000_from_the_environment_is_out_of_range) {
  const auto err = expect_error(make_input({}, {{"ORDERMESH_PG_PORT", "70000"}}));
  BOOST_TEST(err.line() == "config error: pg.port = \"70000\" (env ORDERMESH_PG_PORT): out of "
                           "range; must be an integer between 1 and 65535");
}

BOOST_AUTO_TEST_CASE(port_abc_is_not_a_number) {
  const auto err = expect_error(make_input({"--redis.port", "abc"}));
  BOOST_TEST(err.line() == "config error: redis.port = \"abc\" (command line --redis.port): not a "
                           "number; must be an integer between 1 and 65535");
}

BOOST_AUTO_TEST_CASE(port_out_of_range_in_the_file_names_the_file) {
  const auto err = expect_error(
      make_input({"--config=om.json"}, {}, {{"om.json", R"({"pg": {"port": 70000}})"}}));
  BOOST_TEST(err.line() == "config error: pg.port = \"70000\" (file om.json): out of range; must "
                           "be an integer between 1 and 65535");
}

BOOST_AUTO_TEST_CASE(unknown_key_in_the_file_is_rejected_with_a_suggestion) {
  const auto err = expect_error(
      make_input({"--config=om.json"}, {}, {{"om.json", R"({"pg": {"prot": 5432}})"}}));
  BOOST_TEST(err.line() ==
             "config error: pg.prot = \"5432\" (file om.json): unknown key; did you mean pg.port?");
}

BOOST_AUTO_TEST_CASE(unknown_section_in_the_file_is_rejected) {
  const auto err = expect_error(
      make_input({"--config=om.json"}, {}, {{"om.json", R"({"postgres": {"port": 5432}})"}}));
  BOOST_TEST(err.line() ==
             "config error: postgres = \"{\\\"port\\\":5432}\" (file om.json): unknown key");
  const auto near = expect_error(
      make_input({"--config=om.json"}, {}, {{"om.json", R"({"redsi": {"port": 5432}})"}}));
  BOOST_TEST(near.problem == "unknown key; did you mean redis?");
}

BOOST_AUTO_TEST_CASE(dotted_key_in_the_file_is_rejected_with_the_nested_form) {
  const auto err =
      expect_error(make_input({"--config=om.json"}, {}, {{"om.json", R"({"pg.port": 5432})"}}));
  BOOST_TEST(err.line() == "config error: pg.port = \"5432\" (file om.json): dotted keys are not "
                           "read from the file; nest it as {\"pg\": {\"port\": ...}}");
}

BOOST_AUTO_TEST_CASE(unknown_key_on_the_command_line_is_rejected_with_a_suggestion) {
  const auto err = expect_error(make_input({"--pg.prot=1"}));
  BOOST_TEST(err.line() ==
             "config error: pg.prot = \"1\" (command line --pg.prot): unknown key; did you mean "
             "pg.port?");
}

BOOST_AUTO_TEST_CASE(unknown_ORDERMESH_variable_is_rejected_with_a_suggestion) {
  const auto err = expect_error(make_input({}, {{"ORDERMESH_PG_PROT", "1"}}));
  BOOST_TEST(err.line() == "config error: ORDERMESH_PG_PROT = \"1\" (env ORDERMESH_PG_PROT): "
                           "unknown variable; did you mean ORDERMESH_PG_PORT?");
}

BOOST_AUTO_TEST_CASE(ORDERMESH_CONFIG_and_ORDERMESH_PG_PASSWORD_FILE_are_not_unknown_variables) {
  const auto cfg = expect_loaded(
      make_input({}, {{"ORDERMESH_CONFIG", "om.json"}, {"ORDERMESH_PG_PASSWORD_FILE", "/run/pw"}},
                 {{"om.json", "{}"}, {"/run/pw", "pw"}}));
  BOOST_TEST(cfg.values.pg.password.reveal() == "pw");
}

BOOST_AUTO_TEST_CASE(unknown_option_is_rejected) {
  const auto err = expect_error(make_input({"--verbose"}));
  BOOST_TEST(err.line() == "config error: command line --verbose: unknown option");
  BOOST_TEST(expect_error(make_input({"-v"})).line() ==
             "config error: command line -v: unknown option");
}

BOOST_AUTO_TEST_CASE(option_without_its_value_is_rejected) {
  const auto err = expect_error(make_input({"--pg.port"}));
  BOOST_TEST(err.line() == "config error: pg.port (command line --pg.port): needs a value: "
                           "--pg.port=<value> or --pg.port <value>");
  BOOST_TEST(expect_error(make_input({"--pg.host", "--pg.port=1"})).key == "pg.host");
}

BOOST_AUTO_TEST_CASE(accepted_flag_given_a_value_is_rejected) {
  load_input in = make_input({"--once=yes"});
  in.accepted_flags = {"once"};
  BOOST_TEST(expect_error(in).line() == "config error: command line --once: takes no value");
}

BOOST_AUTO_TEST_CASE(string_where_a_number_is_expected_in_json_is_a_type_error) {
  const auto err =
      expect_error(make_input({"--config=om.json"}, {}, {{"om.json", R"({"pg": {"port": "x"}})"}}));
  BOOST_TEST(err.line() ==
             "config error: pg.port = \"x\" (file om.json): expected an integer, got a string");
}

BOOST_AUTO_TEST_CASE(number_where_a_string_is_expected_in_json_is_a_type_error) {
  const auto err =
      expect_error(make_input({"--config=om.json"}, {}, {{"om.json", R"({"pg": {"host": 5}})"}}));
  BOOST_TEST(err.line() ==
             "config error: pg.host = \"5\" (file om.json): expected a string, got an integer");
}

BOOST_AUTO_TEST_CASE(nested_object_where_a_scalar_is_expected_is_a_type_error) {
  const auto err = expect_error(
      make_input({"--config=om.json"}, {}, {{"om.json", R"({"redis": {"port": {"value": 1}}})"}}));
  BOOST_TEST(err.line() == "config error: redis.port = \"{\\\"value\\\":1}\" (file om.json): "
                           "expected an integer, got an object");
}

BOOST_AUTO_TEST_CASE(scalar_where_a_section_is_expected_is_a_type_error) {
  const auto err =
      expect_error(make_input({"--config=om.json"}, {}, {{"om.json", R"({"pg": 5})"}}));
  BOOST_TEST(err.line() == "config error: pg = \"5\" (file om.json): expected an object, got an "
                           "integer");
}

BOOST_AUTO_TEST_CASE(json_that_is_not_an_object_is_rejected) {
  const auto err = expect_error(make_input({"--config=om.json"}, {}, {{"om.json", "[1]"}}));
  BOOST_TEST(err.line() ==
             "config error: file om.json: expected a JSON object at the top, got an array");
}

BOOST_AUTO_TEST_CASE(missing_dbname_is_reported_with_where_to_set_it) {
  const auto err = expect_error(make_input({}, {}, {}, false));
  BOOST_TEST(err.key == "pg.dbname");
  BOOST_TEST(!err.value.has_value());
  BOOST_TEST(err.line() == "config error: pg.dbname (default): required but not set; set "
                           "\"dbname\" under \"pg\" in the config file, ORDERMESH_PG_DBNAME or "
                           "--pg.dbname");
}

BOOST_AUTO_TEST_CASE(a_process_without_a_database_needs_no_dbname) {
  auto in = make_input({"--psp.port=58100"}, {}, {}, false);
  in.needs_database = false;
  const auto cfg = expect_loaded(in);
  BOOST_TEST(cfg.values.psp.port == 58100);
  BOOST_TEST(cfg.values.pg.dbname.empty());
}

BOOST_AUTO_TEST_CASE(empty_dbname_is_rejected) {
  const auto err = expect_error(make_input({}, {{"ORDERMESH_PG_DBNAME", ""}}, {}, false));
  BOOST_TEST(err.line() ==
             "config error: pg.dbname = \"\" (env ORDERMESH_PG_DBNAME): must not be empty");
}

BOOST_AUTO_TEST_CASE(log_level_outside_the_list_is_rejected) {
  const auto err = expect_error(make_input({}, {{"ORDERMESH_LOG_LEVEL", "verbose"}}));
  BOOST_TEST(err.line() == "config error: log.level = \"verbose\" (env ORDERMESH_LOG_LEVEL): must "
                           "be one of trace, debug, info, warn, error, critical, off");
}

BOOST_AUTO_TEST_CASE(duration_without_a_unit_or_with_garbage_is_rejected) {
  BOOST_TEST(expect_error(make_input({"--pg.connect_timeout=fast"})).line() ==
             "config error: pg.connect_timeout = \"fast\" (command line --pg.connect_timeout): not "
             "a duration; write it like 250ms, 2s or 1m");
  BOOST_TEST(expect_error(make_input({"--pg.connect_timeout=5"})).problem ==
             "not a duration; write it like 250ms, 2s or 1m");
  BOOST_TEST(expect_error(make_input({"--pg.connect_timeout=5h"})).problem ==
             "not a duration; write it like 250ms, 2s or 1m");
  BOOST_TEST(expect_error(make_input({"--pg.connect_timeout=99999999999999999999ms"})).problem ==
             "too large");
}

BOOST_AUTO_TEST_CASE(duration_of_zero_or_less_is_rejected) {
  BOOST_TEST(expect_error(make_input({"--journal.reconnect_min=0ms"})).line() ==
             "config error: journal.reconnect_min = \"0ms\" (command line "
             "--journal.reconnect_min): must be greater than 0");
  const auto err = expect_error(
      make_input({"--config=om.json"}, {}, {{"om.json", R"({"journal": {"reconnect_max": -5}})"}}));
  BOOST_TEST(err.line() ==
             "config error: journal.reconnect_max = \"-5\" (file om.json): must be greater than 0");
  BOOST_TEST(expect_error(make_input({"--config=om.json"}, {},
                                     {{"om.json", R"({"pg": {"connect_timeout": true}})"}}))
                 .problem == "expected a duration (\"250ms\", \"2s\", \"1m\" or integer "
                             "milliseconds), got a boolean");
}

BOOST_AUTO_TEST_CASE(psp_keys_are_read_from_every_layer) {
  const auto cfg = expect_loaded(
      make_input({"--config=om.json", "--psp.failure_rate=0.25", "--psp.latency=0ms"},
                 {{"ORDERMESH_PSP_TIMEOUT_RATE", "1"}, {"ORDERMESH_PSP_SEED", "0"}},
                 {{"om.json", R"({"psp": {"port": 58081, "decline_rate": 0.5, "latency_jitter": 20,
                               "hang": "2s", "client_timeout": 200, "host": "::1"}})"}}));
  const auto& psp = cfg.values.psp;
  BOOST_TEST(psp.host == "::1");
  BOOST_TEST(psp.port == 58081);
  BOOST_TEST(psp.latency.count() == 0);
  BOOST_TEST(psp.latency_jitter.count() == 20);
  BOOST_TEST(psp.failure_rate == 0.25);
  BOOST_TEST(psp.timeout_rate == 1.0);
  BOOST_TEST(psp.decline_rate == 0.5);
  BOOST_TEST(psp.hang.count() == 2000);
  BOOST_TEST(psp.seed == 0u);
  BOOST_TEST(psp.client_timeout.count() == 200);
}

BOOST_AUTO_TEST_CASE(psp_rate_above_one_is_out_of_range) {
  BOOST_TEST(expect_error(make_input({"--psp.failure_rate=1.5"})).line() ==
             "config error: psp.failure_rate = \"1.5\" (command line --psp.failure_rate): out of "
             "range; must be a number between 0 and 1");
  const auto err = expect_error(
      make_input({"--config=om.json"}, {}, {{"om.json", R"({"psp": {"decline_rate": -0.1}})"}}));
  BOOST_TEST(err.line() == "config error: psp.decline_rate = \"-0.1\" (file om.json): out of "
                           "range; must be a number between 0 and 1");
  BOOST_TEST(expect_error(make_input({"--psp.timeout_rate=nan"})).key == "psp.timeout_rate");
}

BOOST_AUTO_TEST_CASE(psp_rate_abc_is_not_a_number) {
  BOOST_TEST(expect_error(make_input({}, {{"ORDERMESH_PSP_TIMEOUT_RATE", "abc"}})).line() ==
             "config error: psp.timeout_rate = \"abc\" (env ORDERMESH_PSP_TIMEOUT_RATE): not a "
             "number; must be a number between 0 and 1");
  BOOST_TEST(expect_error(make_input({"--config=om.json"}, {},
                                     {{"om.json", R"({"psp": {"failure_rate": "0.5"}})"}}))
                 .problem == "expected a number, got a string");
}

BOOST_AUTO_TEST_CASE(psp_latency_may_be_zero_but_not_negative_and_hang_must_be_positive) {
  BOOST_TEST(
      expect_loaded(make_input({"--psp.latency_jitter=0s"})).values.psp.latency_jitter.count() ==
      0);
  BOOST_TEST(expect_error(
                 make_input({"--config=om.json"}, {}, {{"om.json", R"({"psp": {"latency": -1}})"}}))
                 .problem == "must not be negative");
  BOOST_TEST(expect_error(make_input({"--psp.hang=0ms"})).problem == "must be greater than 0");
  BOOST_TEST(expect_error(make_input({"--psp.client_timeout=0s"})).problem ==
             "must be greater than 0");
  BOOST_TEST(expect_error(make_input({"--psp.seed=-1"})).key == "psp.seed");
}

BOOST_AUTO_TEST_CASE(max_batch_of_zero_is_rejected) {
  const auto err = expect_error(make_input({"--journal.max_batch=0"}));
  BOOST_TEST(err.line() == "config error: journal.max_batch = \"0\" (command line "
                           "--journal.max_batch): out of range; must be an integer between 1 and "
                           "4294967295");
}

BOOST_AUTO_TEST_CASE(reconnect_min_above_reconnect_max_is_rejected) {
  const auto err = expect_error(make_input({"--journal.reconnect_min=10s"}));
  BOOST_TEST(err.line() == "config error: journal.reconnect_min = \"10s\" (command line "
                           "--journal.reconnect_min): must not be greater than "
                           "journal.reconnect_max = 5s (default)");
}

BOOST_AUTO_TEST_CASE(a_command_timeout_not_below_the_request_timeout_is_rejected) {
  // A command answered after the request timed out would leave a 504 for an accepted order.
  const auto err = expect_error(make_input({"--gateway.command_timeout=10s"}));
  BOOST_TEST(err.line() == "config error: gateway.command_timeout = \"10s\" (command line "
                           "--gateway.command_timeout): must be less than "
                           "gateway.request_timeout = 10s (default)");
}

BOOST_AUTO_TEST_CASE(the_near_cache_byte_budget_is_configurable) {
  BOOST_TEST(expect_loaded(make_input({})).values.gateway.near_cache_bytes == 64u * 1024 * 1024);
  BOOST_TEST(expect_loaded(make_input({"--gateway.near_cache_bytes=1000"}))
                 .values.gateway.near_cache_bytes == 1000u);
}

BOOST_AUTO_TEST_CASE(malformed_json_is_reported_with_its_position) {
  const auto err =
      expect_error(make_input({"--config=om.json"}, {}, {{"om.json", "{\"pg\": {\"port\": }}"}}));
  BOOST_TEST(err.key.empty());
  BOOST_TEST(err.source == from_file("om.json"));
  BOOST_TEST(err.line().rfind("config error: file om.json: malformed JSON: parse error at line 1, "
                              "column ",
                              0) == 0);
}

BOOST_AUTO_TEST_CASE(unreadable_config_file_is_reported_with_who_named_it) {
  BOOST_TEST(expect_error(make_input({"--config", "nope.json"})).line() ==
             "config error: file nope.json: cannot read the config file named by --config");
  BOOST_TEST(expect_error(make_input({}, {{"ORDERMESH_CONFIG", "nope.json"}})).line() ==
             "config error: file nope.json: cannot read the config file named by "
             "ORDERMESH_CONFIG");
}

BOOST_AUTO_TEST_CASE(error_line_stays_on_one_line_whatever_the_value) {
  const auto err = expect_error(make_input({"--log.level=a\nb\"c"}));
  BOOST_TEST(err.line() == "config error: log.level = \"a\\nb\\\"c\" (command line --log.level): "
                           "must be one of trace, debug, info, warn, error, critical, off");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(secrets)

BOOST_AUTO_TEST_CASE(password_is_read_from_the_file_named_by_ORDERMESH_PG_PASSWORD_FILE) {
  const auto cfg = expect_loaded(make_input({}, {{"ORDERMESH_PG_PASSWORD_FILE", "/run/secrets/pg"}},
                                            {{"/run/secrets/pg", "s3cr3t\n"}}));
  BOOST_TEST(cfg.values.pg.password.reveal() == "s3cr3t");
  BOOST_TEST(cfg.sources.at("pg.password") == from_env("ORDERMESH_PG_PASSWORD_FILE"));
}

BOOST_AUTO_TEST_CASE(only_one_trailing_newline_is_trimmed_from_the_password_file) {
  const auto cfg =
      expect_loaded(make_input({}, {{"ORDERMESH_PG_PASSWORD_FILE", "pw"}}, {{"pw", "two\n\n"}}));
  BOOST_TEST(cfg.values.pg.password.reveal() == "two\n");
}

BOOST_AUTO_TEST_CASE(missing_password_file_names_the_variable_and_the_path) {
  const auto err =
      expect_error(make_input({}, {{"ORDERMESH_PG_PASSWORD_FILE", "/run/secrets/none"}}));
  BOOST_TEST(err.line() == "config error: pg.password (env ORDERMESH_PG_PASSWORD_FILE): cannot "
                           "read the password file \"/run/secrets/none\" named by "
                           "ORDERMESH_PG_PASSWORD_FILE");
}

BOOST_AUTO_TEST_CASE(password_file_and_password_variable_together_are_rejected) {
  const auto err = expect_error(
      make_input({}, {{"ORDERMESH_PG_PASSWORD_FILE", "pw"}, {"ORDERMESH_PG_PASSWORD", "s3cr3t"}},
                 {{"pw", "s3cr3t"}}));
  BOOST_TEST(err.key == "pg.password");
  BOOST_TEST(err.line().find("s3cr3t") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(password_never_appears_in_describe) {
  const auto cfg =
      expect_loaded(make_input({}, {{"ORDERMESH_PG_PASSWORD_FILE", "pw"}}, {{"pw", "s3cr3t\n"}}));
  const auto text = describe(cfg);
  BOOST_TEST(text.find("s3cr3t") == std::string::npos);
  BOOST_TEST(text.find("pg.password = ******  (env ORDERMESH_PG_PASSWORD_FILE)\n") !=
             std::string::npos);
  const auto unset = describe(expect_loaded(make_input({})));
  BOOST_TEST(unset.find("pg.password = (not set)  (default)\n") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(password_never_appears_in_an_error_line) {
  const file_map files = {{"om.json", R"({"pg": {"password": ["s3cr3t"]}})"},
                          {"broken.json", R"({"pg": {"password": s3cr3t}})"},
                          {"pw", "s3cr3t"}};
  const auto wrong_type = expect_error(make_input({"--config=om.json"}, {}, files));
  BOOST_TEST(wrong_type.line() ==
             "config error: pg.password = \"<secret>\" (file om.json): expected a string, got an "
             "array");
  const auto malformed = expect_error(make_input({"--config=broken.json"}, {}, files));
  BOOST_TEST(malformed.line().find("s3cr3t") == std::string::npos);
  BOOST_TEST(malformed.line().find("malformed JSON") != std::string::npos);
  const auto misspelt = expect_error(make_input({"--pg.pasword=s3cr3t"}));
  BOOST_TEST(misspelt.line() == "config error: pg.pasword = \"<secret>\" (command line "
                                "--pg.pasword): unknown key; did you mean pg.password?");
  const auto later =
      expect_error(make_input({"--pg.port=0"}, {{"ORDERMESH_PG_PASSWORD_FILE", "pw"}}, files));
  BOOST_TEST(later.line().find("s3cr3t") == std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(description)

BOOST_AUTO_TEST_CASE(describe_lists_every_key_with_its_value_and_source) {
  const auto cfg = expect_loaded(make_input({"--config=om.json", "--log.level=debug"},
                                            {{"ORDERMESH_REDIS_PORT", "6380"}},
                                            {{"om.json", R"({"pg": {"host": "db"}})"}}));
  const auto text = describe(cfg);
  const std::string expected = "pg.host = db  (file om.json)\n"
                               "pg.port = 55432  (default)\n"
                               "pg.dbname = orders  (command line --pg.dbname)\n"
                               "pg.user = ordermesh  (default)\n"
                               "pg.password = (not set)  (default)\n"
                               "pg.connect_timeout = 2s  (default)\n"
                               "redis.host = 127.0.0.1  (default)\n"
                               "redis.port = 6380  (env ORDERMESH_REDIS_PORT)\n"
                               "journal.max_batch = 512  (default)\n"
                               "journal.max_pending = 65536  (default)\n"
                               "journal.writers = 4  (default)\n"
                               "journal.readers = 4  (default)\n"
                               "journal.reconnect_min = 100ms  (default)\n"
                               "journal.reconnect_max = 5s  (default)\n"
                               "journal.commit_timeout = 1m  (default)\n"
                               "projection.enabled = true  (default)\n"
                               "projection.poll_interval = 25ms  (default)\n"
                               "projection.page_size = 2000  (default)\n"
                               "settlement.interval = 1s  (default)\n"
                               "log.level = debug  (command line --log.level)\n"
                               "psp.host = 127.0.0.1  (default)\n"
                               "psp.port = 58080  (default)\n"
                               "psp.latency = 0ms  (default)\n"
                               "psp.latency_jitter = 0ms  (default)\n"
                               "psp.failure_rate = 0  (default)\n"
                               "psp.timeout_rate = 0  (default)\n"
                               "psp.decline_rate = 0  (default)\n"
                               "psp.hang = 30s  (default)\n"
                               "psp.seed = 42  (default)\n"
                               "psp.client_timeout = 1500ms  (default)\n"
                               "entity.idle_timeout = 30s  (default)\n"
                               "entity.tick_interval = 1s  (default)\n"
                               "entity.max_queue = 4096  (default)\n"
                               "entity.max_host_queue = 65536  (default)\n"
                               "entity.max_batch = 512  (default)\n"
                               "entity.snapshot_every = 200  (default)\n"
                               "entity.restart_backoff = 50ms  (default)\n"
                               "entity.max_crashes = 5  (default)\n"
                               "entity.crash_window = 30s  (default)\n"
                               "saga.max_payment_attempts = 3  (default)\n"
                               "saga.max_commit_rounds = 20  (default)\n"
                               "saga.step_timeout = 2s  (default)\n"
                               "saga.retry_base = 100ms  (default)\n"
                               "saga.retry_max = 5s  (default)\n"
                               "saga.reservation_ttl = 1m  (default)\n"
                               "gateway.host = 127.0.0.1  (default)\n"
                               "gateway.port = 58000  (default)\n"
                               "gateway.io_threads = 2  (default)\n"
                               "gateway.max_connections = 1024  (default)\n"
                               "gateway.max_body = 65536  (default)\n"
                               "gateway.request_timeout = 10s  (default)\n"
                               "gateway.shutdown_grace = 5s  (default)\n"
                               "gateway.read_workers = 4  (default)\n"
                               "gateway.command_timeout = 5s  (default)\n"
                               "gateway.max_wait = 30s  (default)\n"
                               "gateway.rate_limit_per_s = 100  (default)\n"
                               "gateway.rate_limit_burst = 200  (default)\n"
                               "gateway.near_cache_bytes = 67108864  (default)\n"
                               "gateway.cache_ttl = 30s  (default)\n"
                               "gateway.api_keys = (none)  (default)\n"
                               "gateway.trusted_proxy = false  (default)\n";
  BOOST_TEST(text == expected);
  for (const auto& k : known_keys()) {
    BOOST_TEST(text.find(k.key + " = ") != std::string::npos, k.key);
  }
}

BOOST_AUTO_TEST_CASE(every_key_description_is_the_comment_in_config_hpp) {
  std::ifstream header{OM_CONFIG_HEADER};
  BOOST_TEST_REQUIRE(header.good());
  std::stringstream text;
  text << header.rdbuf();
  for (const auto& k : known_keys()) {
    BOOST_TEST(text.str().find("/// " + k.description + "\n") != std::string::npos, k.key);
  }
}

BOOST_AUTO_TEST_CASE(env_names_are_the_upper_cased_keys_with_the_prefix) {
  BOOST_TEST(env_name("pg.port") == "ORDERMESH_PG_PORT");
  BOOST_TEST(env_name("journal.max_batch") == "ORDERMESH_JOURNAL_MAX_BATCH");
  for (const auto& k : known_keys()) {
    BOOST_TEST(k.env_name == env_name(k.key));
  }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_CASE(api_keys_name_clients_by_the_sha256_of_their_key_from_text_or_a_key_file) {
  const std::string a(64, 'a');
  const std::string b = std::string(63, 'B') + "0";
  auto cfg = expect_loaded(make_input({"--gateway.api_keys= alice=" + a + " ,bob=" + b}));
  BOOST_TEST_REQUIRE(cfg.values.gateway.api_keys.size() == 2u);
  BOOST_TEST(cfg.values.gateway.api_keys[0].client == "alice");
  BOOST_TEST(cfg.values.gateway.api_keys[1].sha256_hex == std::string(63, 'b') + "0");
  BOOST_TEST(describe(cfg).find(a) == std::string::npos); // hashes are not printed
  BOOST_TEST(describe(cfg).find("alice=******,bob=******") != std::string::npos);
  auto from_file =
      expect_loaded(make_input({}, {{"ORDERMESH_GATEWAY_API_KEYS_FILE", "/run/keys"}},
                               {{"/run/keys", "# ops keys\nalice=" + a + "\n\nbob=" + b + "\n"}}));
  BOOST_TEST(from_file.values.gateway.api_keys.size() == 2u);
  BOOST_TEST(from_file.sources.at("gateway.api_keys") ==
             (value_source{source_kind::env, "ORDERMESH_GATEWAY_API_KEYS_FILE"}));
  BOOST_TEST(expect_error(make_input({"--gateway.api_keys=alice"})).problem.find("entry 1") == 0u);
  BOOST_TEST(expect_error(make_input({"--gateway.api_keys=alice=abc"})).problem.find("64 hex") !=
             std::string::npos);
  BOOST_TEST(expect_error(make_input({"--gateway.api_keys=a b=" + a})).key == "gateway.api_keys");
  BOOST_TEST(expect_error(make_input({"--gateway.api_keys=alice=" + a + ",bob=" + a}))
                 .problem.find("same key") != std::string::npos);
  BOOST_TEST(expect_error(make_input({}, {{"ORDERMESH_GATEWAY_API_KEYS_FILE", "/missing"}}))
                 .problem.find("cannot read") == 0u);
  BOOST_TEST(expect_error(make_input({},
                                     {{"ORDERMESH_GATEWAY_API_KEYS_FILE", "/run/keys"},
                                      {"ORDERMESH_GATEWAY_API_KEYS", "alice=" + a}},
                                     {{"/run/keys", "alice=" + a}}))
                 .problem.find("set only one") != std::string::npos);
  BOOST_TEST(expect_loaded(make_input({})).values.gateway.api_keys.empty());
}

BOOST_AUTO_TEST_CASE(trusted_proxy_is_a_flag_that_defaults_to_false) {
  BOOST_TEST(!expect_loaded(make_input({})).values.gateway.trusted_proxy);
  BOOST_TEST(
      expect_loaded(make_input({"--gateway.trusted_proxy=true"})).values.gateway.trusted_proxy);
  BOOST_TEST(expect_loaded(make_input({}, {{"ORDERMESH_CONFIG", "f"}},
                                      {{"f", R"({"gateway": {"trusted_proxy": true}})"}}))
                 .values.gateway.trusted_proxy);
  BOOST_TEST(expect_error(make_input({"--gateway.trusted_proxy=yes"})).problem ==
             "must be true or false");
}
