#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

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
  /// Connections committing batches at once (at most one append per stream in flight).
  uint32_t writers = 4;
  /// Connections reading streams for entity activation and catch-up at once.
  uint32_t readers = 4;
  /// First delay before reconnecting to a lost database; doubles up to reconnect_max.
  std::chrono::milliseconds reconnect_min{100};
  /// Longest delay between reconnection attempts.
  std::chrono::milliseconds reconnect_max{5000};
  /// A commit not answered within this is reported outcome_unknown (it may have happened).
  std::chrono::milliseconds commit_timeout{60000};
};

/// The read-model projection run by `ordermesh standalone`.
struct projection_config {
  /// Run the projection; off only to measure or test the write path alone (reads go stale).
  bool enabled = true;
  /// Wait between polls of the log once caught up: how stale a read may be, plus a page's work.
  /// Under load a longer wait puts more of an order's events into one page, so that its rows are
  /// written fewer times (bench/orders, bench/README.md).
  std::chrono::milliseconds poll_interval{25};
  /// Most events read and applied in one transaction (1 to 100 000).
  uint32_t page_size = 2000;
};

/// The settlement runner (actors/settlement_runner.hpp): settles and notifies confirmed sales from
/// the journal.
struct settlement_config {
  // Longer: fewer, larger events; committed quantities kept longer; a confirmed sale notified
  // up to this long after its confirmation.
  /// Wait between rounds of the settlement runner once caught up (one event per SKU and round).
  std::chrono::milliseconds interval{1000};
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
  /// TCP port of the stand-in (0 for `ordermesh psp`: a free port, logged as it listens).
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

/// How each entity host runs its entities (order, inventory, payment, notification).
struct entity_config {
  /// Passivate an entity after this long without a command.
  std::chrono::milliseconds idle_timeout{30000};
  /// How often an entity checks its timers (idle, reservation expiry, stalled saga).
  std::chrono::milliseconds tick_interval{1000};
  /// Commands one entity may have waiting before it answers overloaded.
  uint32_t max_queue = 4096;
  /// Messages one host may have waiting before it answers overloaded.
  uint32_t max_host_queue = 65536;
  /// Most waiting commands one entity decides into a single journal append.
  uint32_t max_batch = 512;
  /// Save an entity's snapshot every this many events.
  uint32_t snapshot_every = 200;
  /// First restart delay after a crash; doubles with each crash in the window.
  std::chrono::milliseconds restart_backoff{50};
  /// Crashes within crash_window after which an entity is parked.
  uint32_t max_crashes = 5;
  /// The window in which crashes are counted.
  std::chrono::milliseconds crash_window{30000};
};

/// The order saga's timeouts and retries.
struct saga_config {
  /// Authorization attempts before an order is cancelled.
  uint32_t max_payment_attempts = 3;
  /// Stock commit rounds that end undecided before an order is cancelled and compensated.
  uint32_t max_commit_rounds = 20;
  /// How long one saga step (all reservations, one authorization) may take.
  std::chrono::milliseconds step_timeout{2000};
  /// Back-off before the first payment retry; doubles per attempt, plus up to half again as jitter.
  std::chrono::milliseconds retry_base{100};
  /// Longest back-off between payment retries.
  std::chrono::milliseconds retry_max{5000};
  /// How long the inventory holds an order's reservation.
  std::chrono::milliseconds reservation_ttl{60000};
};

/// One client's API key, hashed at rest: the key itself is never configured.
struct api_key {
  /// Who requests with this key are: 1 to 64 characters of A-Z a-z 0-9 . _ -.
  std::string client;
  /// SHA-256 of the key, 64 lowercase hex characters.
  std::string sha256_hex;
};

/// The HTTP gateway's server core (gateway/http_server.hpp).
struct gateway_config {
  /// Address the gateway listens on.
  std::string host = "127.0.0.1";
  /// TCP port of the gateway (0: a free port, printed as it starts serving).
  uint16_t port = 58000;
  /// Threads running the gateway's sockets; they never block.
  uint32_t io_threads = 2;
  /// Most connections open at once; one more is answered 503 and closed.
  uint32_t max_connections = 1024;
  /// Largest request body in bytes; a larger one is answered 413.
  uint32_t max_body = 65536;
  /// Longest wait for a request to arrive or for its handler to answer (then 504).
  std::chrono::milliseconds request_timeout{10000};
  /// How long stop() lets requests in flight finish before closing their connections.
  std::chrono::milliseconds shutdown_grace{5000};
  /// Threads doing the gateway's blocking work (PostgreSQL reads, Redis); never the io threads.
  uint32_t read_workers = 4;
  /// Deadline of a command sent to an entity; past it the command is not executed (HTTP 504).
  /// Must be less than request_timeout.
  std::chrono::milliseconds command_timeout{5000};
  /// Longest wait a POST /orders?wait=<ms> may ask for.
  std::chrono::milliseconds max_wait{30000};
  /// Requests per second one client may make on average (token bucket refill).
  uint32_t rate_limit_per_s = 100;
  /// Requests one client may make at once (token bucket capacity).
  uint32_t rate_limit_burst = 200;
  /// Base time to live of a cached read (jittered by up to 10 %).
  std::chrono::milliseconds cache_ttl{30000};
  /// Bytes (keys plus bodies) the in-process near cache may hold; the oldest go first.
  uint32_t near_cache_bytes = 64u * 1024 * 1024;
  /// Clients' API keys: client=<sha256 hex of key>,...; or ORDERMESH_GATEWAY_API_KEYS_FILE.
  std::vector<api_key> api_keys;
  /// The gateway is reached only through a proxy that sets X-Client-Id; only then is it trusted.
  bool trusted_proxy = false;
};

/// Everything one ordermesh process is configured with.
struct app_config {
  pg_config pg;
  redis_config redis;
  journal_config journal;
  projection_config projection;
  settlement_config settlement;
  log_config log;
  psp_config psp;
  entity_config entity;
  saga_config saga;
  gateway_config gateway;
};

} // namespace ordermesh::config
