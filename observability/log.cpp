#include "observability/log.hpp"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <array>
#include <chrono>
#include <cstdio>

namespace ordermesh::observability {

namespace {

using json = nlohmann::json;

constexpr std::array<std::string_view, 7> level_names = {"trace", "debug",    "info", "warn",
                                                         "error", "critical", "off"};
static_assert(spdlog::level::trace == 0 && spdlog::level::off == 6,
              "level_names is indexed by spdlog::level::level_enum");

/// The fields of the log_event() call running on this thread. A pointer rather than a copy: the
/// formatter runs inside that call for synchronous loggers.
thread_local const json* current_fields = nullptr;

void append(spdlog::memory_buf_t& dest, std::string_view text) {
  dest.append(text.data(), text.data() + text.size());
}

bool is_continuation(unsigned char c, unsigned char lo = 0x80, unsigned char hi = 0xBF) {
  return c >= lo && c <= hi;
}

/// Length of the valid UTF-8 sequence starting at s[i], or 0 when it is not valid.
std::size_t utf8_sequence_length(std::string_view s, std::size_t i) {
  const auto at = [&](std::size_t k) -> unsigned char {
    return i + k < s.size() ? static_cast<unsigned char>(s[i + k]) : 0;
  };
  const unsigned char b0 = at(0);
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    return is_continuation(at(1)) ? 2 : 0;
  }
  if (b0 >= 0xE0 && b0 <= 0xEF) {
    // E0 excludes overlong forms, ED excludes UTF-16 surrogates.
    const unsigned char lo = b0 == 0xE0 ? 0xA0 : 0x80;
    const unsigned char hi = b0 == 0xED ? 0x9F : 0xBF;
    return is_continuation(at(1), lo, hi) && is_continuation(at(2)) ? 3 : 0;
  }
  if (b0 >= 0xF0 && b0 <= 0xF4) {
    // F0 excludes overlong forms, F4 stops at U+10FFFF.
    const unsigned char lo = b0 == 0xF0 ? 0x90 : 0x80;
    const unsigned char hi = b0 == 0xF4 ? 0x8F : 0xBF;
    return is_continuation(at(1), lo, hi) && is_continuation(at(2)) && is_continuation(at(3)) ? 4
                                                                                              : 0;
  }
  return 0;
}

/// Appends `text` as a JSON string literal, quotes included.
void append_json_string(spdlog::memory_buf_t& dest, std::string_view text) {
  constexpr char hex[] = "0123456789abcdef";
  dest.push_back('"');
  std::size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x80) {
      const auto n = utf8_sequence_length(text, i);
      if (n == 0) {
        append(dest, "\\ufffd");
        ++i;
      } else {
        append(dest, text.substr(i, n));
        i += n;
      }
      continue;
    }
    switch (c) {
      case '"':
        append(dest, "\\\"");
        break;
      case '\\':
        append(dest, "\\\\");
        break;
      case '\b':
        append(dest, "\\b");
        break;
      case '\f':
        append(dest, "\\f");
        break;
      case '\n':
        append(dest, "\\n");
        break;
      case '\r':
        append(dest, "\\r");
        break;
      case '\t':
        append(dest, "\\t");
        break;
      default:
        if (c < 0x20) {
          append(dest, "\\u00");
          dest.push_back(hex[c >> 4]);
          dest.push_back(hex[c & 0xf]);
        } else {
          dest.push_back(static_cast<char>(c));
        }
    }
    ++i;
  }
  dest.push_back('"');
}

std::string dump(const json& j) {
  // replace: a field holding invalid UTF-8 must not make logging throw.
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

bool is_reserved(std::string_view key) {
  return key == "ts" || key == "level" || key == "component" || key == "msg";
}

void append_fields(spdlog::memory_buf_t& dest, const json& fields) {
  if (fields.is_null()) {
    return;
  }
  if (!fields.is_object()) {
    append(dest, ",\"fields\":");
    append(dest, dump(fields));
    return;
  }
  for (const auto& [key, value] : fields.items()) {
    std::string name = key;
    while (is_reserved(name) || (name != key && fields.contains(name))) {
      name = "field." + name;
    }
    dest.push_back(',');
    append(dest, dump(json(name)));
    dest.push_back(':');
    append(dest, dump(value));
  }
}

/// Restores the previous fields pointer even if logging throws.
class fields_scope {
public:
  explicit fields_scope(const json* fields) : previous_(current_fields) { current_fields = fields; }
  ~fields_scope() { current_fields = previous_; }
  fields_scope(const fields_scope&) = delete;
  fields_scope& operator=(const fields_scope&) = delete;

private:
  const json* previous_;
};

} // namespace

void json_formatter::format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) {
  using namespace std::chrono;
  const auto since_epoch = msg.time.time_since_epoch();
  const auto secs = floor<seconds>(since_epoch);
  const auto millis = duration_cast<milliseconds>(since_epoch - secs).count();
  const auto second = static_cast<std::time_t>(secs.count());
  if (second != cached_second_) {
    std::tm utc{};
    gmtime_r(&second, &utc);
    char text[32];
    const auto n = std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &utc);
    cached_prefix_.assign(text, n);
    cached_second_ = second;
  }
  char fraction[8];
  std::snprintf(fraction, sizeof fraction, ".%03dZ", static_cast<int>(millis));

  append(dest, "{\"ts\":\"");
  append(dest, cached_prefix_);
  append(dest, fraction);
  append(dest, "\",\"level\":\"");
  append(dest, level_name(msg.level));
  append(dest, "\",\"component\":");
  append_json_string(dest, std::string_view{msg.logger_name.data(), msg.logger_name.size()});
  append(dest, ",\"msg\":");
  append_json_string(dest, std::string_view{msg.payload.data(), msg.payload.size()});
  if (current_fields != nullptr) {
    append_fields(dest, *current_fields);
  }
  append(dest, "}\n");
}

std::unique_ptr<spdlog::formatter> json_formatter::clone() const {
  return std::make_unique<json_formatter>();
}

std::optional<spdlog::level::level_enum> parse_level(std::string_view name) {
  for (std::size_t i = 0; i < level_names.size(); ++i) {
    if (level_names[i] == name) {
      return static_cast<spdlog::level::level_enum>(i);
    }
  }
  return std::nullopt;
}

std::string_view level_name(spdlog::level::level_enum level) {
  const auto i = static_cast<std::size_t>(level);
  return i < level_names.size() ? level_names[i] : std::string_view{"unknown"};
}

void init_logging(const std::string& level, const std::string& component) {
  auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  auto logger = std::make_shared<spdlog::logger>(component, std::move(sink));
  logger->set_formatter(std::make_unique<json_formatter>());
  const auto parsed = parse_level(level);
  logger->set_level(parsed.value_or(spdlog::level::info));
  spdlog::set_default_logger(logger);
  if (!parsed) {
    log_event(*logger, spdlog::level::warn, "unknown log level, logging at info",
              {{"requested_level", level}});
  }
}

std::shared_ptr<spdlog::logger> component_logger(const std::string& component) {
  const auto base = spdlog::default_logger();
  auto logger =
      std::make_shared<spdlog::logger>(component, base->sinks().begin(), base->sinks().end());
  logger->set_level(base->level());
  return logger;
}

void log_event(spdlog::logger& logger, spdlog::level::level_enum lvl, std::string_view msg,
               const nlohmann::json& fields) {
  if (!logger.should_log(lvl)) {
    return;
  }
  const fields_scope scope{&fields};
  logger.log(lvl, spdlog::string_view_t{msg.data(), msg.size()});
}

void log_event(spdlog::level::level_enum lvl, std::string_view msg, const nlohmann::json& fields) {
  if (auto* logger = spdlog::default_logger_raw(); logger != nullptr) {
    log_event(*logger, lvl, msg, fields);
  }
}

} // namespace ordermesh::observability
