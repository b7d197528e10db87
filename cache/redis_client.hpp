#pragma once

#include "cache/result.hpp"
#include "config/config.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

struct redisContext;

namespace ordermesh::cache {

/// Timeouts and reconnect back-off of one redis_client (config::redis_config only names the
/// server).
struct redis_client_options {
  /// Give up a connection attempt after this long.
  std::chrono::milliseconds connect_timeout{500};
  /// Give up waiting for one reply after this long (the connection is then dropped).
  std::chrono::milliseconds command_timeout{500};
  /// First delay before reconnecting after a failed attempt; doubles up to reconnect_max.
  std::chrono::milliseconds reconnect_min{100};
  /// Longest delay between reconnection attempts.
  std::chrono::milliseconds reconnect_max{5000};
};

/// One decoded Redis reply (EVAL/EVALSHA return arbitrary shapes).
struct redis_reply {
  enum class kind : uint8_t { nil, integer, string, status, array };
  kind type = kind::nil;
  int64_t integer = 0;
  /// The bytes of a string or status reply.
  std::string str;
  std::vector<redis_reply> elements;
};

/// A blocking hiredis adapter over one connection. Not thread-safe: use one per thread or guard it
/// with a mutex. Never call it from CAF's cooperative scheduler threads.
///
/// The connection is opened on the first call. A lost connection (I/O error, timeout) is dropped
/// and re-established on the next call; failed attempts back off exponentially (reconnect_min
/// doubling up to reconnect_max), and calls inside the back-off window fail at once with
/// cache_errc::unavailable. Server error replies are cache_errc::protocol. No method throws.
class redis_client {
public:
  explicit redis_client(config::redis_config redis, redis_client_options options = {});
  ~redis_client();
  redis_client(const redis_client&) = delete;
  redis_client& operator=(const redis_client&) = delete;

  /// PING; done when the server answered PONG.
  cache_result<done> ping();

  /// GET: the value, or nullopt when the key does not exist.
  cache_result<std::optional<std::string>> get(const std::string& key);

  /// SET key value PX ttl (ttl must be positive).
  cache_result<done> set(const std::string& key, const std::string& value,
                         std::chrono::milliseconds ttl);

  /// DEL: how many of the keys existed.
  cache_result<int64_t> del(const std::vector<std::string>& keys);

  /// PTTL in milliseconds: -2 when the key does not exist, -1 when it has no expiry.
  cache_result<int64_t> pttl(const std::string& key);

  /// PUBLISH: how many subscribers received the message.
  cache_result<int64_t> publish(const std::string& channel, const std::string& message);

  /// Runs the Lua `script`: SCRIPT LOAD once per script text, then EVALSHA; on NOSCRIPT (a
  /// restarted or flushed server) it falls back to EVAL, which also re-registers the script.
  /// A script error is cache_errc::protocol.
  cache_result<redis_reply> eval(const std::string& script, const std::vector<std::string>& keys,
                                 const std::vector<std::string>& args);

  /// Any command, argument by argument (binary safe). Error replies are cache_errc::protocol.
  cache_result<redis_reply> command(const std::vector<std::string>& argv);

  /// The commands of `commands`, each argument by argument, sent together and their replies read
  /// in order: one round trip for all of them (a pipeline). One result per command, in order;
  /// error replies are cache_errc::protocol for that command only. An I/O error or timeout fails
  /// the command it happened at and every later one (unavailable) and drops the connection.
  std::vector<cache_result<redis_reply>>
  pipeline(const std::vector<std::vector<std::string>>& commands);

  /// Whether a connection is currently open (it may still turn out broken on next use).
  bool connected() const { return ctx_ != nullptr; }

  /// The server this client talks to.
  const config::redis_config& server() const { return redis_; }

private:
  cache_error connect_if_needed();
  void drop_connection();
  /// The result of the command `name` from its hiredis reply `raw` (owned; null after an I/O
  /// error or timeout, which drops the connection).
  cache_result<redis_reply> received(const std::string& name, void* raw);

  config::redis_config redis_;
  redis_client_options options_;
  redisContext* ctx_ = nullptr;
  std::chrono::milliseconds backoff_;
  std::chrono::steady_clock::time_point next_attempt_;
  /// SHA1 of each script text already loaded (kept across reconnects; NOSCRIPT repairs it).
  std::unordered_map<std::string, std::string> script_sha_;
};

} // namespace ordermesh::cache
