#include "observability/log.hpp"

#include "util/json_string.hpp"

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
  util::append_json_string(dest, std::string_view{msg.logger_name.data(), msg.logger_name.size()});
  append(dest, ",\"msg\":");
  util::append_json_string(dest, std::string_view{msg.payload.data(), msg.payload.size()});
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
