#pragma once

#include "config/config.hpp"

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace ordermesh::config {

/// Which layer a value came from. Later layers override earlier ones:
/// built_in < file < env < cli.
enum class source_kind { built_in, file, env, cli };

/// Where one value came from: `where` is the config file path, the environment variable name or
/// the command-line option (e.g. "--pg.port"); empty for built-in defaults.
struct value_source {
  source_kind kind = source_kind::built_in;
  std::string where;
};

bool operator==(const value_source& lhs, const value_source& rhs);

/// "default", "file ./om.json", "env ORDERMESH_PG_PORT" or "command line --pg.port".
std::string to_string(const value_source& src);

/// A fully loaded and validated configuration.
struct loaded_config {
  app_config values;
  /// One entry per known key (see known_keys()), saying which layer set it.
  std::map<std::string, value_source> sources;
  /// The bare flags of load_input::accepted_flags that were given, without the leading "--".
  std::set<std::string> flags;
  /// Arguments not starting with '-' (and everything after "--"), in order.
  std::vector<std::string> positional;
};

/// Why loading failed. Secret values are never stored here: their value reads "<secret>".
struct config_error {
  /// The dotted key ("pg.port"), the unknown option or variable name, or empty when the problem is
  /// the whole source (an unreadable or malformed config file).
  std::string key;
  /// The offending value as given; empty when there is none (a missing value).
  std::optional<std::string> value;
  value_source source;
  std::string problem;

  /// One line, no trailing newline: `config error: <key> = "<value>" (<source>): <problem>`, e.g.
  ///   config error: pg.port = "0" (env ORDERMESH_PG_PORT): out of range; must be an integer ...
  /// Without a value: `config error: <key> (<source>): <problem>`; without a key:
  /// `config error: <source>: <problem>`. Control characters are escaped.
  std::string line() const;
};

/// Everything the loader reads, passed in so that it can be tested without the real process.
struct load_input {
  /// Command-line arguments after the program name and subcommand.
  std::vector<std::string> args;
  /// The environment; see process_env().
  std::map<std::string, std::string> env;
  /// Bare flags the caller handles (e.g. "print-config", "once"), written without "--".
  std::set<std::string> accepted_flags;
  /// Reads a whole file; nullopt when it cannot be read. Empty means read_file_from_disk.
  std::function<std::optional<std::string>(const std::string& path)> read_file;
  /// Whether the caller uses PostgreSQL; if not (the PSP stand-in), pg.dbname is not required.
  bool needs_database = true;
};

/// The result of load(): the configuration or the first problem found.
using load_result = std::variant<loaded_config, config_error>;

/// Fills app_config from built-in defaults < config file < environment < command line, then
/// validates. The config file is named by --config <path>, --config=<path> or ORDERMESH_CONFIG;
/// without one, that layer is skipped. Environment variables are "ORDERMESH_" + the key upper-cased
/// with '.' as '_'; any other ORDERMESH_* variable except ORDERMESH_CONFIG,
/// ORDERMESH_PG_PASSWORD_FILE and ORDERMESH_GATEWAY_API_KEYS_FILE is an error. Options are
/// --key=value or --key value. Returns the first problem as a config_error; never throws.
load_result load(const load_input& in);

/// The current process environment (from environ).
std::map<std::string, std::string> process_env();

/// Reads a regular file; nullopt when it is missing, a directory or unreadable.
std::optional<std::string> read_file_from_disk(const std::string& path);

/// The effective configuration for --print-config: one line per known key, in table order,
/// "key = value  (source)", each ending in '\n'. Secrets read "******" (or "(not set)").
/// Durations are written the way they can be given back ("250ms", "2s", "1m").
std::string describe(const loaded_config& cfg);

/// One entry of the table of known keys.
struct key_info {
  std::string key;
  /// The same sentence as the `///` comment on the struct member in config/config.hpp.
  std::string description;
  std::string env_name;
  bool required = false;
  bool is_secret = false;
};

/// Every key the loader accepts, in table order.
std::vector<key_info> known_keys();

/// "ORDERMESH_" + key upper-cased, '.' written as '_' ("pg.port" -> "ORDERMESH_PG_PORT").
std::string env_name(std::string_view key);

/// Names of the variables with a special meaning.
inline constexpr std::string_view config_path_env = "ORDERMESH_CONFIG";
inline constexpr std::string_view password_file_env = "ORDERMESH_PG_PASSWORD_FILE";
inline constexpr std::string_view api_keys_file_env = "ORDERMESH_GATEWAY_API_KEYS_FILE";

} // namespace ordermesh::config
