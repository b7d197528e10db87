#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace ordermesh::config {

/// A value that must never be printed or logged (passwords). Its text is only reachable via
/// reveal().
class secret {
public:
  secret() = default;
  explicit secret(std::string value) : value_(std::move(value)) {}
  const std::string& reveal() const { return value_; }
  bool empty() const { return value_.empty(); }

private:
  std::string value_;
};

/// The PostgreSQL server holding the event store and the read models.
struct pg_config {
  /// Host name or address of the server (loopback by default).
  std::string host = "127.0.0.1";
  /// TCP port; 55432 does not clash with a system PostgreSQL on 5432.
  uint16_t port = 55432;
  /// Database name. Required: which database holds the events is a decision, not a default.
  std::string dbname;
  /// Role to connect as.
  std::string user = "ordermesh";
  /// Password of that role; also readable from the file named by ORDERMESH_PG_PASSWORD_FILE.
  secret password;
  /// Give up a connection attempt after this long.
  std::chrono::milliseconds connect_timeout{2000};
};

/// The Redis server used as cache, rate limiter and membership board (never the source of truth).
struct redis_config {
  /// Host name or address of the server (loopback by default).
  std::string host = "127.0.0.1";
  /// TCP port; 56379 does not clash with a system Redis on 6379.
  uint16_t port = 56379;
};

/// The journal writer: group commit of appends from many streams.
struct journal_config {
  /// Most appends committed in one transaction.
  uint32_t max_batch = 512;
  /// Most appends waiting for a commit before new ones are refused as overloaded.
  uint32_t max_pending = 65536;
  /// First delay before reconnecting to a lost database; doubles up to reconnect_max.
  std::chrono::milliseconds reconnect_min{100};
  /// Longest delay between reconnection attempts.
  std::chrono::milliseconds reconnect_max{5000};
};

/// Structured logging.
struct log_config {
  /// One of trace, debug, info, warn, error, critical, off.
  std::string level = "info";
};

/// Everything one ordermesh process is configured with.
struct app_config {
  pg_config pg;
  redis_config redis;
  journal_config journal;
  log_config log;
};

} // namespace ordermesh::config
