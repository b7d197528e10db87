#pragma once

#include <nlohmann/json.hpp>
#include <spdlog/formatter.h>
#include <spdlog/logger.h>

#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace ordermesh::observability {

/// Formats each record as one JSON object on one line:
/// {"ts":"2026-11-25T10:00:00.123Z","level":"info","component":"journal","msg":"...",...fields}
/// "component" is the logger's name; the fields are those passed to log_event() (on the thread
/// that logs, so they are dropped by spdlog's async loggers). The message and the component are
/// escaped as JSON strings; invalid UTF-8 becomes U+FFFD, so every line parses as JSON.
class json_formatter final : public spdlog::formatter {
public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override;
  std::unique_ptr<spdlog::formatter> clone() const override;

private:
  /// "YYYY-MM-DDTHH:MM:SS" of cached_second_, rebuilt when the second changes.
  std::time_t cached_second_ = -1;
  std::string cached_prefix_;
};

/// The level for one of trace, debug, info, warn, error, critical, off; nullopt for anything else.
std::optional<spdlog::level::level_enum> parse_level(std::string_view name);

/// The name written in "level": trace, debug, info, warn, error, critical or off.
std::string_view level_name(spdlog::level::level_enum level);

/// Makes a logger named `component`, writing JSON lines to stderr without colours at `level`, the
/// default spdlog logger. `level` has been validated by the config loader; should it still be
/// unknown, the level is info and a warning says so.
void init_logging(const std::string& level, const std::string& component);

/// A logger for another component ("journal") sharing the default logger's sinks and level.
/// It is not registered with spdlog; keep the pointer.
std::shared_ptr<spdlog::logger> component_logger(const std::string& component);

/// Logs `msg` with `fields` (a JSON object) merged into the line. A field named ts, level,
/// component or msg cannot replace those: it is written as "field.<name>". A non-object `fields`
/// is written under "fields"; null adds nothing. Nothing is formatted below the logger's level.
void log_event(spdlog::logger& logger, spdlog::level::level_enum lvl, std::string_view msg,
               const nlohmann::json& fields = {});

/// log_event() on the default logger.
void log_event(spdlog::level::level_enum lvl, std::string_view msg,
               const nlohmann::json& fields = {});

} // namespace ordermesh::observability
