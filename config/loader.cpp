#include "config/loader.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <type_traits>
#include <utility>

#include <unistd.h>

extern char** environ;

namespace ordermesh::config {

namespace {

using json = nlohmann::json;

// --- values as they arrive from a layer --------------------------------------------------------

/// A value from the file (JSON) or from the environment / command line (text).
struct raw_value {
  const json* from_json = nullptr;
  std::string_view text;
};

std::string dump_compact(const json& j) {
  // Invalid UTF-8 in the file must not make the error path throw.
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

/// The value as a person wrote it: text as is, JSON strings without quotes, other JSON compact.
std::string value_text(const raw_value& raw) {
  if (raw.from_json == nullptr) {
    return std::string{raw.text};
  }
  if (raw.from_json->is_string()) {
    return raw.from_json->get<std::string>();
  }
  constexpr std::size_t max_shown = 60;
  auto text = dump_compact(*raw.from_json);
  if (text.size() > max_shown) {
    text = text.substr(0, max_shown) + "...";
  }
  return text;
}

std::string json_type_name(const json& j) {
  switch (j.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::object:
      return "an object";
    case json::value_t::array:
      return "an array";
    case json::value_t::string:
      return "a string";
    case json::value_t::boolean:
      return "a boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
      return "an integer";
    case json::value_t::number_float:
      return "a number with a fraction";
    default:
      return "an unsupported value";
  }
}

// --- parsers: each returns the value or the problem ---------------------------------------------

template <class T>
struct parsed {
  std::optional<T> value;
  std::string problem;
};

template <class T>
parsed<T> ok(T value) {
  return parsed<T>{std::move(value), {}};
}

template <class T>
parsed<T> fail(std::string problem) {
  return parsed<T>{std::nullopt, std::move(problem)};
}

/// A string from text or a JSON string; `what` names the expected kind in type errors.
parsed<std::string> string_of(const raw_value& raw, std::string_view what) {
  if (raw.from_json == nullptr) {
    return ok(std::string{raw.text});
  }
  if (!raw.from_json->is_string()) {
    return fail<std::string>("expected " + std::string{what} + ", got " +
                             json_type_name(*raw.from_json));
  }
  return ok(raw.from_json->get<std::string>());
}

parsed<std::string> parse_text(const raw_value& raw) {
  auto s = string_of(raw, "a string");
  if (s.value && s.value->empty()) {
    return fail<std::string>("must not be empty");
  }
  return s;
}

parsed<secret> parse_secret(const raw_value& raw) {
  auto s = string_of(raw, "a string");
  if (!s.value) {
    return fail<secret>(s.problem);
  }
  return ok(secret{std::move(*s.value)});
}

constexpr std::string_view log_levels[] = {"trace", "debug",    "info", "warn",
                                           "error", "critical", "off"};

parsed<std::string> parse_log_level(const raw_value& raw) {
  auto s = string_of(raw, "a string");
  if (!s.value) {
    return s;
  }
  if (std::find(std::begin(log_levels), std::end(log_levels), *s.value) == std::end(log_levels)) {
    return fail<std::string>("must be one of trace, debug, info, warn, error, critical, off");
  }
  return s;
}

/// An integer in [lo, hi], from a JSON integer or from decimal text.
parsed<int64_t> integer_in(const raw_value& raw, int64_t lo, int64_t hi) {
  const auto range =
      "must be an integer between " + std::to_string(lo) + " and " + std::to_string(hi);
  int64_t n = 0;
  if (raw.from_json != nullptr) {
    const auto& j = *raw.from_json;
    if (j.is_number_unsigned()) {
      const auto u = j.get<uint64_t>();
      n = u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())
              ? std::numeric_limits<int64_t>::max()
              : static_cast<int64_t>(u);
    } else if (j.is_number_integer()) {
      n = j.get<int64_t>();
    } else {
      return fail<int64_t>("expected an integer, got " + json_type_name(j));
    }
  } else {
    const auto* first = raw.text.data();
    const auto* last = raw.text.data() + raw.text.size();
    const auto [ptr, ec] = std::from_chars(first, last, n);
    if (ec == std::errc::result_out_of_range) {
      return fail<int64_t>("out of range; " + range);
    }
    if (ec != std::errc{} || ptr != last || raw.text.empty()) {
      return fail<int64_t>("not a number; " + range);
    }
  }
  if (n < lo || n > hi) {
    return fail<int64_t>("out of range; " + range);
  }
  return ok(n);
}

parsed<uint16_t> parse_port(const raw_value& raw) {
  const auto n = integer_in(raw, 1, std::numeric_limits<uint16_t>::max());
  if (!n.value) {
    return fail<uint16_t>(n.problem);
  }
  return ok(static_cast<uint16_t>(*n.value));
}

/// A port to listen on: 0 asks the kernel for a free one (the program reports which).
parsed<uint16_t> parse_listen_port(const raw_value& raw) {
  const auto n = integer_in(raw, 0, std::numeric_limits<uint16_t>::max());
  if (!n.value) {
    return fail<uint16_t>(n.problem);
  }
  return ok(static_cast<uint16_t>(*n.value));
}

/// A page of events: up to 100 000, so that a backlog is never read into memory at once.
parsed<uint32_t> parse_page_size(const raw_value& raw) {
  const auto n = integer_in(raw, 1, 100'000);
  if (!n.value) {
    return fail<uint32_t>(n.problem);
  }
  return ok(static_cast<uint32_t>(*n.value));
}

parsed<uint32_t> parse_count(const raw_value& raw) {
  const auto n = integer_in(raw, 1, std::numeric_limits<uint32_t>::max());
  if (!n.value) {
    return fail<uint32_t>(n.problem);
  }
  return ok(static_cast<uint32_t>(*n.value));
}

/// "250ms", "2s", "1m" (text or JSON string) or a JSON integer of milliseconds; must be > 0, or
/// >= 0 when `zero_allowed`. Text needs a unit: a bare "5" in the environment is too easily meant
/// as seconds.
parsed<std::chrono::milliseconds> parse_duration_from(const raw_value& raw, bool zero_allowed) {
  using std::chrono::milliseconds;
  constexpr std::string_view how = "write it like 250ms, 2s or 1m";
  const std::string_view positive =
      zero_allowed ? "must not be negative" : "must be greater than 0";
  if (raw.from_json != nullptr && raw.from_json->is_number_integer()) {
    if (raw.from_json->is_number_unsigned()) {
      const auto u = raw.from_json->get<uint64_t>();
      if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        return fail<milliseconds>("too large");
      }
      if (u == 0 && !zero_allowed) {
        return fail<milliseconds>(std::string{positive});
      }
      return ok(milliseconds{static_cast<int64_t>(u)});
    }
    return fail<milliseconds>(std::string{positive});
  }
  const auto s = string_of(raw, "a duration (\"250ms\", \"2s\", \"1m\" or integer milliseconds)");
  if (!s.value) {
    return fail<milliseconds>(s.problem);
  }
  const std::string_view text = *s.value;
  const auto digits_end = std::find_if(text.begin(), text.end(), [](char c) {
    return !std::isdigit(static_cast<unsigned char>(c));
  });
  const auto digits = text.substr(0, static_cast<std::size_t>(digits_end - text.begin()));
  const auto unit = text.substr(digits.size());
  int64_t scale = 0;
  if (unit == "ms") {
    scale = 1;
  } else if (unit == "s") {
    scale = 1000;
  } else if (unit == "m") {
    scale = 60'000;
  }
  if (digits.empty() || scale == 0) {
    return fail<milliseconds>("not a duration; " + std::string{how});
  }
  int64_t n = 0;
  const auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
  if (ec != std::errc{} || n > std::numeric_limits<int64_t>::max() / scale) {
    return fail<milliseconds>("too large");
  }
  if (n == 0 && !zero_allowed) {
    return fail<milliseconds>(std::string{positive});
  }
  return ok(milliseconds{n * scale});
}

parsed<std::chrono::milliseconds> parse_duration(const raw_value& raw) {
  return parse_duration_from(raw, false);
}

parsed<std::chrono::milliseconds> parse_non_negative_duration(const raw_value& raw) {
  return parse_duration_from(raw, true);
}

parsed<uint32_t> parse_seed(const raw_value& raw) {
  const auto n = integer_in(raw, 0, std::numeric_limits<uint32_t>::max());
  if (!n.value) {
    return fail<uint32_t>(n.problem);
  }
  return ok(static_cast<uint32_t>(*n.value));
}

/// A share between 0 and 1, from a JSON number or from decimal text ("0.25", "1").
parsed<double> parse_rate(const raw_value& raw) {
  constexpr std::string_view range = "must be a number between 0 and 1";
  double x = 0.0;
  if (raw.from_json != nullptr) {
    if (!raw.from_json->is_number()) {
      return fail<double>("expected a number, got " + json_type_name(*raw.from_json));
    }
    x = raw.from_json->get<double>();
  } else {
    const auto* first = raw.text.data();
    const auto* last = raw.text.data() + raw.text.size();
    const auto [ptr, ec] = std::from_chars(first, last, x);
    if (ec != std::errc{} || ptr != last || raw.text.empty()) {
      return fail<double>("not a number; " + std::string{range});
    }
  }
  // Written so that NaN fails too.
  if (!(x >= 0.0 && x <= 1.0)) {
    return fail<double>("out of range; " + std::string{range});
  }
  return ok(x);
}

/// true or false, from a JSON boolean or from the text "true" / "false".
parsed<bool> parse_flag(const raw_value& raw) {
  if (raw.from_json != nullptr) {
    if (!raw.from_json->is_boolean()) {
      return fail<bool>("expected true or false, got " + json_type_name(*raw.from_json));
    }
    return ok(raw.from_json->get<bool>());
  }
  if (raw.text == "true" || raw.text == "false") {
    return ok(raw.text == "true");
  }
  return fail<bool>("must be true or false");
}

std::string_view trimmed(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) {
    s.remove_prefix(1);
  }
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) {
    s.remove_suffix(1);
  }
  return s;
}

/// "client=<64 hex>" entries separated by commas or line breaks; blank entries and lines starting
/// with '#' are skipped, so that a key file can carry comments. Empty: no keys.
parsed<std::vector<api_key>> parse_api_keys(const raw_value& raw) {
  auto text = string_of(raw, "a string of client=<sha256 hex> entries");
  if (!text.value) {
    return fail<std::vector<api_key>>(text.problem);
  }
  std::vector<api_key> keys;
  std::string_view rest = *text.value;
  while (!rest.empty()) {
    const auto end = rest.find_first_of(",\n");
    const auto entry = trimmed(rest.substr(0, end));
    rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end + 1);
    if (entry.empty() || entry.front() == '#') {
      continue;
    }
    const auto eq = entry.find('=');
    const auto client = trimmed(entry.substr(0, eq));
    const auto hash =
        eq == std::string_view::npos ? std::string_view{} : trimmed(entry.substr(eq + 1));
    const auto nth = "entry " + std::to_string(keys.size() + 1) + ": ";
    const bool client_ok =
        !client.empty() && client.size() <= 64 &&
        std::all_of(client.begin(), client.end(), [](char c) {
          return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
        });
    if (!client_ok) {
      return fail<std::vector<api_key>>(
          nth + "write client=<sha256 hex>, the client 1 to 64 characters of A-Z a-z 0-9 . _ -");
    }
    std::string hex;
    for (const char c : hash) {
      hex += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    if (hex.size() != 64 || !std::all_of(hex.begin(), hex.end(), [](char c) {
          return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
        })) {
      return fail<std::vector<api_key>>(nth + "the hash of " + std::string{client} +
                                        "'s key must be 64 hex characters (sha256sum of the key)");
    }
    for (const auto& k : keys) {
      if (k.sha256_hex == hex) {
        return fail<std::vector<api_key>>(nth + "the same key is given to " + k.client + " and " +
                                          std::string{client});
      }
    }
    keys.push_back(api_key{std::string{client}, std::move(hex)});
  }
  return ok(std::move(keys));
}

// --- how values are shown by describe() ----------------------------------------------------------

std::string show_text(const std::string& s) {
  return s;
}

template <class Int>
std::string show_integer(const Int& n) {
  return std::to_string(n);
}

std::string show_duration(const std::chrono::milliseconds& d) {
  const auto ms = d.count();
  if (ms != 0 && ms % 60'000 == 0) {
    return std::to_string(ms / 60'000) + "m";
  }
  if (ms != 0 && ms % 1000 == 0) {
    return std::to_string(ms / 1000) + "s";
  }
  return std::to_string(ms) + "ms";
}

std::string show_rate(const double& x) {
  std::ostringstream out;
  out << x;
  return out.str();
}

std::string show_flag(const bool& b) {
  return b ? "true" : "false";
}

/// The clients only: a hash of a short key could be guessed from the log.
std::string show_api_keys(const std::vector<api_key>& keys) {
  std::string out = keys.empty() ? "(none)" : "";
  for (const auto& k : keys) {
    out += (out.empty() ? "" : ",") + k.client + "=******";
  }
  return out;
}

std::string show_secret(const secret& s) {
  return s.empty() ? "(not set)" : "******";
}

// --- the table of keys -------------------------------------------------------------------------

struct field {
  std::string key;
  std::string description;
  bool required = false;
  bool is_secret = false;
  /// Parses and stores the value; returns the problem, empty on success.
  std::function<std::string(app_config&, const raw_value&)> assign;
  std::function<std::string(const app_config&)> show;
};

/// How one type of value is read and shown.
template <class T>
struct value_kind {
  parsed<T> (*parse)(const raw_value&);
  std::string (*show)(const T&);
};

constexpr value_kind<std::string> as_text{parse_text, show_text};
constexpr value_kind<std::string> as_log_level{parse_log_level, show_text};
constexpr value_kind<uint16_t> as_port{parse_port, show_integer<uint16_t>};
constexpr value_kind<uint16_t> as_listen_port{parse_listen_port, show_integer<uint16_t>};
constexpr value_kind<uint32_t> as_count{parse_count, show_integer<uint32_t>};
constexpr value_kind<uint32_t> as_page_size{parse_page_size, show_integer<uint32_t>};
constexpr value_kind<std::chrono::milliseconds> as_duration{parse_duration, show_duration};
constexpr value_kind<std::chrono::milliseconds> as_non_negative_duration{
    parse_non_negative_duration, show_duration};
constexpr value_kind<uint32_t> as_seed{parse_seed, show_integer<uint32_t>};
constexpr value_kind<double> as_rate{parse_rate, show_rate};
constexpr value_kind<secret> as_secret{parse_secret, show_secret};
constexpr value_kind<bool> as_flag{parse_flag, show_flag};
constexpr value_kind<std::vector<api_key>> as_api_keys{parse_api_keys, show_api_keys};

enum class presence { optional, required };

/// `access` is a generic lambda returning the member, used for both reading and writing.
template <class T, class Access>
field make_field(std::string key, value_kind<T> kind, Access access, std::string description,
                 presence need = presence::optional) {
  field f;
  f.key = std::move(key);
  f.description = std::move(description);
  f.required = need == presence::required;
  f.is_secret = std::is_same_v<T, secret>;
  f.assign = [kind, access](app_config& cfg, const raw_value& raw) -> std::string {
    auto result = kind.parse(raw);
    if (!result.value) {
      return result.problem;
    }
    access(cfg) = std::move(*result.value);
    return {};
  };
  f.show = [kind, access](const app_config& cfg) { return kind.show(access(cfg)); };
  return f;
}

// Descriptions repeat the `///` comments of config/config.hpp; tests/config checks they match.
const std::vector<field>& fields() {
  static const std::vector<field> table = {
      make_field(
          "pg.host", as_text, [](auto& c) -> auto& { return c.pg.host; },
          "Host name or address of the server (loopback by default)."),
      make_field(
          "pg.port", as_port, [](auto& c) -> auto& { return c.pg.port; },
          "TCP port; 55432 does not clash with a system PostgreSQL on 5432."),
      make_field(
          "pg.dbname", as_text, [](auto& c) -> auto& { return c.pg.dbname; },
          "Database name. Required: which database holds the events is a decision, not a "
          "default.",
          presence::required),
      make_field(
          "pg.user", as_text, [](auto& c) -> auto& { return c.pg.user; }, "Role to connect as."),
      make_field(
          "pg.password", as_secret, [](auto& c) -> auto& { return c.pg.password; },
          "Password of that role; also readable from the file named by "
          "ORDERMESH_PG_PASSWORD_FILE."),
      make_field(
          "pg.connect_timeout", as_duration, [](auto& c) -> auto& { return c.pg.connect_timeout; },
          "Give up a connection attempt after this long."),
      make_field(
          "redis.host", as_text, [](auto& c) -> auto& { return c.redis.host; },
          "Host name or address of the server (loopback by default)."),
      make_field(
          "redis.port", as_port, [](auto& c) -> auto& { return c.redis.port; },
          "TCP port; 56379 does not clash with a system Redis on 6379."),
      make_field(
          "journal.max_batch", as_count, [](auto& c) -> auto& { return c.journal.max_batch; },
          "Most appends committed in one transaction."),
      make_field(
          "journal.max_pending", as_count, [](auto& c) -> auto& { return c.journal.max_pending; },
          "Most appends waiting for a commit before new ones are refused as overloaded."),
      make_field(
          "journal.writers", as_count, [](auto& c) -> auto& { return c.journal.writers; },
          "Connections committing batches at once (at most one append per stream in flight)."),
      make_field(
          "journal.readers", as_count, [](auto& c) -> auto& { return c.journal.readers; },
          "Connections reading streams for entity activation and catch-up at once."),
      make_field(
          "journal.reconnect_min", as_duration,
          [](auto& c) -> auto& { return c.journal.reconnect_min; },
          "First delay before reconnecting to a lost database; doubles up to reconnect_max."),
      make_field(
          "journal.reconnect_max", as_duration,
          [](auto& c) -> auto& { return c.journal.reconnect_max; },
          "Longest delay between reconnection attempts."),
      make_field(
          "journal.commit_timeout", as_duration,
          [](auto& c) -> auto& { return c.journal.commit_timeout; },
          "A commit not answered within this is reported outcome_unknown (it may have happened)."),
      make_field(
          "projection.enabled", as_flag, [](auto& c) -> auto& { return c.projection.enabled; },
          "Run the projection; off only to measure or test the write path alone (reads go stale)."),
      make_field(
          "projection.poll_interval", as_duration,
          [](auto& c) -> auto& { return c.projection.poll_interval; },
          "Wait between polls of the log once caught up: how stale a read may be, plus a page's "
          "work."),
      make_field(
          "projection.page_size", as_page_size,
          [](auto& c) -> auto& { return c.projection.page_size; },
          "Most events read and applied in one transaction (1 to 100 000)."),
      make_field(
          "settlement.interval", as_duration,
          [](auto& c) -> auto& { return c.settlement.interval; },
          "Wait between rounds of the settlement runner once caught up (one event per SKU and "
          "round)."),
      make_field(
          "log.level", as_log_level, [](auto& c) -> auto& { return c.log.level; },
          "One of trace, debug, info, warn, error, critical, off."),
      make_field(
          "psp.host", as_text, [](auto& c) -> auto& { return c.psp.host; },
          "Address the stand-in listens on and the client connects to."),
      make_field(
          "psp.port", as_listen_port, [](auto& c) -> auto& { return c.psp.port; },
          "TCP port of the stand-in (0 for `ordermesh psp`: a free port, logged as it listens)."),
      make_field(
          "psp.latency", as_non_negative_duration, [](auto& c) -> auto& { return c.psp.latency; },
          "Fixed latency added to every answer."),
      make_field(
          "psp.latency_jitter", as_non_negative_duration,
          [](auto& c) -> auto& { return c.psp.latency_jitter; },
          "Random extra latency, uniform between 0 and this, added to every answer."),
      make_field(
          "psp.failure_rate", as_rate, [](auto& c) -> auto& { return c.psp.failure_rate; },
          "Share of payment requests (0 to 1) answered 503 without doing anything."),
      make_field(
          "psp.timeout_rate", as_rate, [](auto& c) -> auto& { return c.psp.timeout_rate; },
          "Share of payment requests (0 to 1) carried out but unanswered: held for psp.hang, "
          "then closed."),
      make_field(
          "psp.decline_rate", as_rate, [](auto& c) -> auto& { return c.psp.decline_rate; },
          "Share of authorizations (0 to 1) declined as insufficient_funds."),
      make_field(
          "psp.hang", as_duration, [](auto& c) -> auto& { return c.psp.hang; },
          "How long a request picked by psp.timeout_rate is held before its connection is closed."),
      make_field(
          "psp.seed", as_seed, [](auto& c) -> auto& { return c.psp.seed; },
          "Seed of the random draws behind the rates and the jitter, so that runs repeat."),
      make_field(
          "psp.client_timeout", as_duration, [](auto& c) -> auto& { return c.psp.client_timeout; },
          "The client gives up on one request (connect, send, answer) after this long."),
      make_field(
          "entity.idle_timeout", as_duration,
          [](auto& c) -> auto& { return c.entity.idle_timeout; },
          "Passivate an entity after this long without a command."),
      make_field(
          "entity.tick_interval", as_duration,
          [](auto& c) -> auto& { return c.entity.tick_interval; },
          "How often an entity checks its timers (idle, reservation expiry, stalled saga)."),
      make_field(
          "entity.max_queue", as_count, [](auto& c) -> auto& { return c.entity.max_queue; },
          "Commands one entity may have waiting before it answers overloaded."),
      make_field(
          "entity.max_host_queue", as_count,
          [](auto& c) -> auto& { return c.entity.max_host_queue; },
          "Messages one host may have waiting before it answers overloaded."),
      make_field(
          "entity.max_batch", as_count, [](auto& c) -> auto& { return c.entity.max_batch; },
          "Most waiting commands one entity decides into a single journal append."),
      make_field(
          "entity.snapshot_every", as_count,
          [](auto& c) -> auto& { return c.entity.snapshot_every; },
          "Save an entity's snapshot every this many events."),
      make_field(
          "entity.restart_backoff", as_duration,
          [](auto& c) -> auto& { return c.entity.restart_backoff; },
          "First restart delay after a crash; doubles with each crash in the window."),
      make_field(
          "entity.max_crashes", as_count, [](auto& c) -> auto& { return c.entity.max_crashes; },
          "Crashes within crash_window after which an entity is parked."),
      make_field(
          "entity.crash_window", as_duration,
          [](auto& c) -> auto& { return c.entity.crash_window; },
          "The window in which crashes are counted."),
      make_field(
          "saga.max_payment_attempts", as_count,
          [](auto& c) -> auto& { return c.saga.max_payment_attempts; },
          "Authorization attempts before an order is cancelled."),
      make_field(
          "saga.max_commit_rounds", as_count,
          [](auto& c) -> auto& { return c.saga.max_commit_rounds; },
          "Stock commit rounds that end undecided before an order is cancelled and compensated."),
      make_field(
          "saga.step_timeout", as_duration, [](auto& c) -> auto& { return c.saga.step_timeout; },
          "How long one saga step (all reservations, one authorization) may take."),
      make_field(
          "saga.retry_base", as_duration, [](auto& c) -> auto& { return c.saga.retry_base; },
          "Back-off before the first payment retry; doubles per attempt, plus up to half again as "
          "jitter."),
      make_field(
          "saga.retry_max", as_duration, [](auto& c) -> auto& { return c.saga.retry_max; },
          "Longest back-off between payment retries."),
      make_field(
          "saga.reservation_ttl", as_duration,
          [](auto& c) -> auto& { return c.saga.reservation_ttl; },
          "How long the inventory holds an order's reservation."),
      make_field(
          "gateway.host", as_text, [](auto& c) -> auto& { return c.gateway.host; },
          "Address the gateway listens on."),
      make_field(
          "gateway.port", as_listen_port, [](auto& c) -> auto& { return c.gateway.port; },
          "TCP port of the gateway (0: a free port, printed as it starts serving)."),
      make_field(
          "gateway.io_threads", as_count, [](auto& c) -> auto& { return c.gateway.io_threads; },
          "Threads running the gateway's sockets; they never block."),
      make_field(
          "gateway.max_connections", as_count,
          [](auto& c) -> auto& { return c.gateway.max_connections; },
          "Most connections open at once; one more is answered 503 and closed."),
      make_field(
          "gateway.max_body", as_count, [](auto& c) -> auto& { return c.gateway.max_body; },
          "Largest request body in bytes; a larger one is answered 413."),
      make_field(
          "gateway.request_timeout", as_duration,
          [](auto& c) -> auto& { return c.gateway.request_timeout; },
          "Longest wait for a request to arrive or for its handler to answer (then 504)."),
      make_field(
          "gateway.shutdown_grace", as_duration,
          [](auto& c) -> auto& { return c.gateway.shutdown_grace; },
          "How long stop() lets requests in flight finish before closing their connections."),
      make_field(
          "gateway.read_workers", as_count, [](auto& c) -> auto& { return c.gateway.read_workers; },
          "Threads doing the gateway's blocking work (PostgreSQL reads, Redis); never the io "
          "threads."),
      make_field(
          "gateway.command_timeout", as_duration,
          [](auto& c) -> auto& { return c.gateway.command_timeout; },
          "Deadline of a command sent to an entity; past it the command is not executed (HTTP "
          "504)."),
      make_field(
          "gateway.max_wait", as_duration, [](auto& c) -> auto& { return c.gateway.max_wait; },
          "Longest wait a POST /orders?wait=<ms> may ask for."),
      make_field(
          "gateway.rate_limit_per_s", as_count,
          [](auto& c) -> auto& { return c.gateway.rate_limit_per_s; },
          "Requests per second one client may make on average (token bucket refill)."),
      make_field(
          "gateway.rate_limit_burst", as_count,
          [](auto& c) -> auto& { return c.gateway.rate_limit_burst; },
          "Requests one client may make at once (token bucket capacity)."),
      make_field(
          "gateway.near_cache_bytes", as_count,
          [](auto& c) -> auto& { return c.gateway.near_cache_bytes; },
          "Bytes (keys plus bodies) the in-process near cache may hold; the oldest go first."),
      make_field(
          "gateway.cache_ttl", as_duration, [](auto& c) -> auto& { return c.gateway.cache_ttl; },
          "Base time to live of a cached read (jittered by up to 10 %)."),
      make_field(
          "gateway.api_keys", as_api_keys, [](auto& c) -> auto& { return c.gateway.api_keys; },
          "Clients' API keys: client=<sha256 hex of key>,...; or ORDERMESH_GATEWAY_API_KEYS_FILE."),
      make_field(
          "gateway.trusted_proxy", as_flag,
          [](auto& c) -> auto& { return c.gateway.trusted_proxy; },
          "The gateway is reached only through a proxy that sets X-Client-Id; only then is it "
          "trusted."),
  };
  return table;
}

const field* find_field(std::string_view key) {
  for (const auto& f : fields()) {
    if (f.key == key) {
      return &f;
    }
  }
  return nullptr;
}

const field* find_field_by_env(std::string_view name) {
  for (const auto& f : fields()) {
    if (env_name(f.key) == name) {
      return &f;
    }
  }
  return nullptr;
}

bool is_section(std::string_view name) {
  return std::any_of(fields().begin(), fields().end(), [&](const field& f) {
    return f.key.size() > name.size() && f.key.compare(0, name.size(), name) == 0 &&
           f.key[name.size()] == '.';
  });
}

// --- unknown names -----------------------------------------------------------------------------

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) {
    row[j] = j;
  }
  for (std::size_t i = 1; i <= a.size(); ++i) {
    auto diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const auto above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

/// The closest known name within two edits, for "did you mean".
std::optional<std::string> closest(std::string_view name, bool as_env) {
  std::vector<std::string> candidates;
  for (const auto& f : fields()) {
    candidates.push_back(as_env ? env_name(f.key) : f.key);
    if (!as_env) {
      candidates.push_back(f.key.substr(0, f.key.find('.')));
    }
  }
  std::optional<std::string> best;
  std::size_t best_distance = 3;
  for (auto& candidate : candidates) {
    const auto d = edit_distance(name, candidate);
    if (d < best_distance) {
      best_distance = d;
      best = std::move(candidate);
    }
  }
  return best;
}

std::string lower(std::string_view s) {
  std::string out{s};
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

/// An unknown name may be a misspelt secret (--pg.pasword=...): then its value is not echoed.
bool looks_secret(std::string_view name, const std::optional<std::string>& suggestion) {
  if (suggestion) {
    const auto* f = find_field(*suggestion);
    if (f == nullptr) {
      f = find_field_by_env(*suggestion);
    }
    if (f != nullptr && f->is_secret) {
      return true;
    }
  }
  const auto l = lower(name);
  for (const char* word : {"pass", "secret", "token", "key"}) {
    if (l.find(word) != std::string::npos) {
      return true;
    }
  }
  return false;
}

config_error unknown_key(std::string name, std::optional<std::string> value, value_source src,
                         bool as_env) {
  const auto suggestion = closest(name, as_env);
  if (value && looks_secret(name, suggestion)) {
    value = "<secret>";
  }
  std::string problem = as_env ? "unknown variable" : "unknown key";
  if (suggestion) {
    problem += "; did you mean " + *suggestion + "?";
  }
  return config_error{std::move(name), std::move(value), std::move(src), std::move(problem)};
}

// --- the command line --------------------------------------------------------------------------

struct cli_assignment {
  const field* target;
  std::string value;
  value_source source;
};

struct parsed_cli {
  std::optional<std::string> config_path;
  std::vector<cli_assignment> assignments;
  std::set<std::string> flags;
  std::vector<std::string> positional;
};

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && s.compare(0, prefix.size(), prefix) == 0;
}

std::variant<parsed_cli, config_error> parse_cli(const load_input& in) {
  parsed_cli out;
  const auto& args = in.args;
  bool options_done = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (options_done || arg == "-" || !starts_with(arg, "-")) {
      out.positional.push_back(arg);
      continue;
    }
    if (arg == "--") {
      options_done = true;
      continue;
    }
    const value_source src{source_kind::cli, arg.substr(0, arg.find('='))};
    if (!starts_with(arg, "--")) {
      return config_error{{}, std::nullopt, src, "unknown option"};
    }
    const auto eq = arg.find('=');
    const std::string name = arg.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
    std::optional<std::string> inline_value;
    if (eq != std::string::npos) {
      inline_value = arg.substr(eq + 1);
    }
    const auto* target = find_field(name);
    if (target != nullptr || name == "config") {
      std::string value;
      if (inline_value) {
        value = *inline_value;
      } else if (i + 1 < args.size() && !starts_with(args[i + 1], "--")) {
        value = args[++i];
      } else {
        return config_error{name, std::nullopt, src,
                            "needs a value: --" + name + "=<value> or --" + name + " <value>"};
      }
      if (target == nullptr) {
        out.config_path = std::move(value);
      } else {
        out.assignments.push_back(cli_assignment{target, std::move(value), src});
      }
      continue;
    }
    if (in.accepted_flags.count(name) != 0) {
      if (inline_value) {
        return config_error{{}, std::nullopt, src, "takes no value"};
      }
      out.flags.insert(name);
      continue;
    }
    if (name.find('.') != std::string::npos) {
      return unknown_key(name, inline_value, src, false);
    }
    return config_error{{}, std::nullopt, src, "unknown option"};
  }
  return out;
}

// --- loading -----------------------------------------------------------------------------------

class loader {
public:
  explicit loader(const load_input& in) : in_(in) {
    for (const auto& f : fields()) {
      out_.sources[f.key] = value_source{};
    }
  }

  load_result run() {
    auto cli = parse_cli(in_);
    if (auto* err = std::get_if<config_error>(&cli)) {
      return std::move(*err);
    }
    auto& args = std::get<parsed_cli>(cli);
    if (auto err = load_file(args.config_path)) {
      return std::move(*err);
    }
    if (auto err = load_env()) {
      return std::move(*err);
    }
    for (const auto& a : args.assignments) {
      if (auto err = assign(*a.target, raw_value{nullptr, a.value}, a.source)) {
        return std::move(*err);
      }
    }
    if (auto err = check_whole()) {
      return std::move(*err);
    }
    out_.flags = std::move(args.flags);
    out_.positional = std::move(args.positional);
    return std::move(out_);
  }

private:
  std::optional<std::string> read(const std::string& path) const {
    return in_.read_file ? in_.read_file(path) : read_file_from_disk(path);
  }

  std::optional<config_error> assign(const field& f, const raw_value& raw, value_source src) {
    auto problem = f.assign(out_.values, raw);
    if (!problem.empty()) {
      auto shown = f.is_secret ? std::string{"<secret>"} : value_text(raw);
      return config_error{f.key, std::move(shown), std::move(src), std::move(problem)};
    }
    out_.sources[f.key] = std::move(src);
    return std::nullopt;
  }

  std::optional<config_error> load_file(const std::optional<std::string>& cli_path) {
    std::string path;
    std::string named_by;
    if (cli_path) {
      path = *cli_path;
      named_by = "--config";
    } else if (auto it = in_.env.find(std::string{config_path_env}); it != in_.env.end()) {
      path = it->second;
      named_by = std::string{config_path_env};
    } else {
      return std::nullopt;
    }
    const value_source src{source_kind::file, path};
    const auto text = read(path);
    if (!text) {
      return config_error{
          {}, std::nullopt, src, "cannot read the config file named by " + named_by};
    }
    json doc;
    try {
      doc = json::parse(*text);
    } catch (const json::parse_error& e) {
      return config_error{{}, std::nullopt, src, "malformed JSON: " + parse_error_text(e)};
    }
    if (!doc.is_object()) {
      return config_error{
          {}, std::nullopt, src, "expected a JSON object at the top, got " + json_type_name(doc)};
    }
    for (const auto& [section, body] : doc.items()) {
      if (body.is_object() && !is_section(section)) {
        return unknown_key(section, value_text(raw_value{&body, {}}), src, false);
      }
      if (!body.is_object()) {
        if (find_field(section) != nullptr) {
          return config_error{section, value_text(raw_value{&body, {}}), src,
                              "dotted keys are not read from the file; nest it as {\"" +
                                  section.substr(0, section.find('.')) + "\": {\"" +
                                  section.substr(section.find('.') + 1) + "\": ...}}"};
        }
        if (is_section(section)) {
          return config_error{section, value_text(raw_value{&body, {}}), src,
                              "expected an object, got " + json_type_name(body)};
        }
        return unknown_key(section, value_text(raw_value{&body, {}}), src, false);
      }
      for (const auto& [name, value] : body.items()) {
        const auto key = section + "." + name;
        const auto* f = find_field(key);
        if (f == nullptr) {
          return unknown_key(key, value_text(raw_value{&value, {}}), src, false);
        }
        if (auto err = assign(*f, raw_value{&value, {}}, src)) {
          return err;
        }
      }
    }
    return std::nullopt;
  }

  /// nlohmann's message without its "[json.exception...]" tag and without the "last read" echo,
  /// which would repeat file content (possibly a password) into the error line.
  static std::string parse_error_text(const json::parse_error& e) {
    std::string text = e.what();
    if (const auto tag_end = text.find("] ");
        starts_with(text, "[json.exception") && tag_end != std::string::npos) {
      text.erase(0, tag_end + 2);
    }
    if (const auto echo = text.find("; last read:"); echo != std::string::npos) {
      text.erase(echo);
    }
    return text;
  }

  std::optional<config_error> load_env() {
    constexpr std::string_view prefix = "ORDERMESH_";
    for (const auto& [name, value] : in_.env) {
      if (!starts_with(name, prefix) || name == config_path_env || name == password_file_env ||
          name == api_keys_file_env) {
        continue;
      }
      const auto* f = find_field_by_env(name);
      const value_source src{source_kind::env, name};
      if (f == nullptr) {
        return unknown_key(name, value, src, true);
      }
      if (auto err = assign(*f, raw_value{nullptr, value}, src)) {
        return err;
      }
    }
    if (auto err = load_password_file()) {
      return err;
    }
    return load_api_keys_file();
  }

  std::optional<config_error> load_api_keys_file() {
    const auto it = in_.env.find(std::string{api_keys_file_env});
    if (it == in_.env.end()) {
      return std::nullopt;
    }
    const value_source src{source_kind::env, std::string{api_keys_file_env}};
    if (in_.env.count(env_name("gateway.api_keys")) != 0) {
      return config_error{"gateway.api_keys", std::nullopt, src,
                          "both " + env_name("gateway.api_keys") + " and " +
                              std::string{api_keys_file_env} + " are set; set only one"};
    }
    const auto text = read(it->second);
    if (!text) {
      return config_error{"gateway.api_keys", std::nullopt, src,
                          "cannot read the API key file \"" + it->second + "\" named by " +
                              std::string{api_keys_file_env}};
    }
    return assign(*find_field("gateway.api_keys"), raw_value{nullptr, *text}, src);
  }

  std::optional<config_error> load_password_file() {
    const auto it = in_.env.find(std::string{password_file_env});
    if (it == in_.env.end()) {
      return std::nullopt;
    }
    const value_source src{source_kind::env, std::string{password_file_env}};
    const auto password_env = env_name("pg.password");
    if (in_.env.count(password_env) != 0) {
      return config_error{"pg.password", "<secret>", src,
                          "both " + password_env + " and " + std::string{password_file_env} +
                              " are set; set only one"};
    }
    const auto& path = it->second;
    auto text = read(path);
    if (!text) {
      return config_error{"pg.password", std::nullopt, src,
                          "cannot read the password file \"" + path + "\" named by " +
                              std::string{password_file_env}};
    }
    if (!text->empty() && text->back() == '\n') {
      text->pop_back();
      if (!text->empty() && text->back() == '\r') {
        text->pop_back();
      }
    }
    if (text->empty()) {
      return config_error{"pg.password", std::nullopt, src,
                          "the password file \"" + path + "\" named by " +
                              std::string{password_file_env} + " is empty"};
    }
    out_.values.pg.password = secret{std::move(*text)};
    out_.sources["pg.password"] = src;
    return std::nullopt;
  }

  /// Rules that involve a missing value or more than one key.
  std::optional<config_error> check_whole() {
    for (const auto& f : fields()) {
      if (f.required && out_.sources[f.key].kind == source_kind::built_in &&
          (in_.needs_database || f.key.rfind("pg.", 0) != 0)) {
        return config_error{f.key, std::nullopt, value_source{},
                            "required but not set; set \"" + f.key.substr(f.key.find('.') + 1) +
                                "\" under \"" + f.key.substr(0, f.key.find('.')) +
                                "\" in the config file, " + env_name(f.key) + " or --" + f.key};
      }
    }
    const auto& j = out_.values.journal;
    if (j.reconnect_min > j.reconnect_max) {
      return config_error{
          "journal.reconnect_min", show_duration(j.reconnect_min),
          out_.sources["journal.reconnect_min"],
          "must not be greater than journal.reconnect_max = " + show_duration(j.reconnect_max) +
              " (" + to_string(out_.sources["journal.reconnect_max"]) + ")"};
    }
    // A command still running when the request times out leaves a 504 for what may have been
    // accepted.
    const auto& g = out_.values.gateway;
    if (g.command_timeout >= g.request_timeout) {
      return config_error{
          "gateway.command_timeout", show_duration(g.command_timeout),
          out_.sources["gateway.command_timeout"],
          "must be less than gateway.request_timeout = " + show_duration(g.request_timeout) + " (" +
              to_string(out_.sources["gateway.request_timeout"]) + ")"};
    }
    return std::nullopt;
  }

  const load_input& in_;
  loaded_config out_;
};

/// `s` with control characters escaped, so that an error stays on one line.
std::string escape_controls(std::string_view s, bool escape_quotes) {
  std::string out;
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (escape_quotes && (c == '"' || c == '\\')) {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (u < 0x20 || u == 0x7f) {
      constexpr char hex[] = "0123456789abcdef";
      out += "\\x";
      out += hex[u >> 4];
      out += hex[u & 0xf];
    } else {
      out += c;
    }
  }
  return out;
}

} // namespace

bool operator==(const value_source& lhs, const value_source& rhs) {
  return lhs.kind == rhs.kind && lhs.where == rhs.where;
}

std::string to_string(const value_source& src) {
  switch (src.kind) {
    case source_kind::built_in:
      return "default";
    case source_kind::file:
      return "file " + src.where;
    case source_kind::env:
      return "env " + src.where;
    case source_kind::cli:
      return "command line " + src.where;
  }
  return "unknown source";
}

std::string config_error::line() const {
  std::string out = "config error: ";
  if (key.empty()) {
    out += escape_controls(to_string(source), false);
  } else {
    out += escape_controls(key, false);
    if (value) {
      out += " = \"" + escape_controls(*value, true) + "\"";
    }
    out += " (" + escape_controls(to_string(source), false) + ")";
  }
  out += ": " + escape_controls(problem, false);
  return out;
}

load_result load(const load_input& in) {
  try {
    return loader{in}.run();
  } catch (const std::exception& e) {
    // Only allocation failures or a throwing read_file can get here; keep the promise not to throw.
    return config_error{{}, std::nullopt, value_source{}, std::string{"cannot load: "} + e.what()};
  }
}

std::map<std::string, std::string> process_env() {
  std::map<std::string, std::string> env;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    const std::string_view text{*entry};
    const auto eq = text.find('=');
    if (eq == std::string_view::npos) {
      continue;
    }
    env.emplace(std::string{text.substr(0, eq)}, std::string{text.substr(eq + 1)});
  }
  return env;
}

std::optional<std::string> read_file_from_disk(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    return std::nullopt;
  }
  std::ifstream file{path, std::ios::binary};
  if (!file) {
    return std::nullopt;
  }
  std::ostringstream text;
  text << file.rdbuf();
  if (file.bad()) {
    return std::nullopt;
  }
  return text.str();
}

std::string describe(const loaded_config& cfg) {
  std::string out;
  for (const auto& f : fields()) {
    const auto it = cfg.sources.find(f.key);
    const auto src = it == cfg.sources.end() ? value_source{} : it->second;
    out += f.key + " = " + f.show(cfg.values) + "  (" + to_string(src) + ")\n";
  }
  return out;
}

std::vector<key_info> known_keys() {
  std::vector<key_info> keys;
  for (const auto& f : fields()) {
    keys.push_back(key_info{f.key, f.description, env_name(f.key), f.required, f.is_secret});
  }
  return keys;
}

std::string env_name(std::string_view key) {
  std::string name = "ORDERMESH_";
  for (const char c : key) {
    name += c == '.' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return name;
}

} // namespace ordermesh::config
