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

/// The payment service provider stand-in (`ordermesh psp`) and the client that calls it.
struct psp_config {
  /// Address the stand-in listens on and the client connects to.
  std::string host = "127.0.0.1";
  /// TCP port of the stand-in.
  uint16_t port = 58080;
  /// Fixed latency added to every answer.
  std::chrono::milliseconds latency{0};
  /// Random extra latency, uniform between 0 and this, added to every answer.
  std::chrono::milliseconds latency_jitter{0};
  /// Share of payment requests (0 to 1) answered 503 without doing anything.
  double failure_rate = 0.0;
  /// Share of payment requests (0 to 1) carried out but unanswered: held for psp.hang, then closed.
  double timeout_rate = 0.0;
  /// Share of authorizations (0 to 1) declined as insufficient_funds.
  double decline_rate = 0.0;
  /// How long a request picked by psp.timeout_rate is held before its connection is closed.
  std::chrono::milliseconds hang{30000};
  /// Seed of the random draws behind the rates and the jitter, so that runs repeat.
  uint32_t seed = 42;
  /// The client gives up on one request (connect, send, answer) after this long.
  std::chrono::milliseconds client_timeout{1500};
};

/// Everything one ordermesh process is configured with.
struct app_config {
  pg_config pg;
  redis_config redis;
  journal_config journal;
  log_config log;
  psp_config psp;
};

} // namespace ordermesh::config
