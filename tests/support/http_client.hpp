#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ordermesh::testing {

/// Header fields in order, duplicates allowed.
using header_list = std::vector<std::pair<std::string, std::string>>;

/// One HTTP response as the client read it.
struct http_response {
  /// Status code, e.g. 202.
  unsigned status = 0;
  /// Every header field in the order received.
  header_list headers;
  std::string body;
  /// False when the server said it closes the connection after this response.
  bool keep_alive = true;

  /// The first value of header `name` (case-insensitive), or nullopt.
  std::optional<std::string> header(std::string_view name) const;
  /// The body parsed as JSON. Throws std::runtime_error naming the body when it is not JSON.
  nlohmann::json json() const;
};

/// A network failure or timeout of `http_client` (an HTTP error status is not one).
class http_client_error : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

/// A small blocking HTTP/1.1 client for tests, on Boost.Beast. It keeps one keep-alive connection
/// to `host:port`, opens it on first use and opens a new one when the server has closed it.
/// Every call is bounded by the timeout; a failure or timeout throws `http_client_error` and
/// closes the connection (the next call reconnects). Not thread-safe: one client per thread.
class http_client {
public:
  /// No connection is made until the first call.
  http_client(std::string host, uint16_t port,
              std::chrono::milliseconds timeout = std::chrono::seconds{5});
  ~http_client();
  http_client(const http_client&) = delete;
  http_client& operator=(const http_client&) = delete;

  /// Sends one request and reads its response. Sets Host, and Content-Type: application/json when
  /// `body` is not empty and `headers` has no Content-Type; Content-Length always. `method` may be
  /// any token ("GET", "POST", "PURGE", ...). A request that fails on a reused connection before
  /// any byte of the response arrived (the server had closed it while idle) is sent once more on
  /// a new connection.
  http_response request(std::string_view method, std::string_view target, std::string body = "",
                        const header_list& headers = {});

  /// Writes `bytes` as they are on the connection (opening it if needed): for pipelining and
  /// malformed requests. Read the answers with `read_responses`.
  void send_raw(std::string_view bytes);
  /// Reads `n` responses from the connection, each within the timeout. Throws if fewer arrive.
  std::vector<http_response> read_responses(std::size_t n);
  /// Waits up to the timeout for the server to close the connection: true when it ended (EOF or
  /// reset) without sending anything more, false on timeout or when more data arrived.
  bool closed_by_server();

  /// Polls `GET path` (on fresh connections, each poll bounded by the timeout) until it answers
  /// 200 or `timeout` has passed; true when it did. Connection errors count as "not yet".
  bool wait_until_ready(std::string_view path, std::chrono::milliseconds timeout);

  /// Closes the connection (the next call opens a new one).
  void close();
  /// True while a connection is open.
  bool connected() const;
  /// The bound of each later call.
  void set_timeout(std::chrono::milliseconds timeout);
  std::chrono::milliseconds timeout() const;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace ordermesh::testing
