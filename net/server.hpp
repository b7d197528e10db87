#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ordermesh::net {

/// One HTTP/1.1 request as read from a connection.
struct request {
  std::string method; ///< "GET", "POST", ... as sent
  std::string target; ///< as sent: path and query
  /// Headers (name, value) in the order sent.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string remote_address; ///< the peer's IP address, e.g. "127.0.0.1"

  /// The first header called `name` (case-insensitive); nullopt when absent.
  std::optional<std::string> header(std::string_view name) const;
};

/// One HTTP answer; the server adds Content-Length, Connection and Server.
struct response {
  unsigned status = 200;
  std::string content_type = "application/json";
  /// Extra headers (name, value), e.g. Allow or Retry-After.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

/// Why a connection is answered without its request reaching the handler; the connection is
/// closed after that answer.
enum class refusal {
  malformed,     ///< not HTTP/1.1 (the detail is the parser's complaint)
  too_large,     ///< the body is over server_options::max_body
  over_capacity, ///< server_options::max_connections connections are open already
};

namespace detail {
class session;
} // namespace detail

/// The request being handled on one connection; copyable and cheap. The connection waits for
/// the request's answer (reading nothing else) until answer() or close() is called, or stop()'s
/// grace period ends. Calls about a request that has already been answered or closed, or whose
/// connection has gone, do nothing; holding an exchange keeps no connection open.
class exchange {
public:
  /// Writes `r` as the answer; from any thread.
  void answer(response r) const;
  /// Closes the connection without answering; from any thread.
  void close() const;
  /// Runs `then` on the connection's strand once `delay` has passed, unless the request has been
  /// answered or closed by then. When `ends_on_stop`, stop() runs `then` at once instead of
  /// waiting for it. Call it on the connection's strand only: inside the request handler or inside
  /// a `then`; a later call replaces the deadline armed before.
  void after(std::chrono::milliseconds delay, std::function<void()> then,
             bool ends_on_stop = false) const;

private:
  friend class detail::session;
  exchange(std::weak_ptr<detail::session> s, uint64_t seq) : session_(std::move(s)), seq_(seq) {}

  std::weak_ptr<detail::session> session_;
  uint64_t seq_;
};

/// What a server does by itself, before any request reaches its handler.
struct server_options {
  /// Names the server in logs, in start()'s errors ("cannot resolve <name>.host") and in the
  /// Server header ("ordermesh-<name>").
  std::string name = "http";
  std::string host = "127.0.0.1";   ///< address to listen on, numeric or a name to resolve
  uint16_t port = 0;                ///< 0: an ephemeral port, see server::port()
  std::size_t io_threads = 1;       ///< threads running the sockets (at least one)
  std::size_t max_body = 64 * 1024; ///< largest request body in bytes, else too_large
  /// A request (the next one on a kept-alive connection included) must arrive within this long,
  /// or the connection is closed without an answer.
  std::chrono::milliseconds read_timeout{60000};
  /// A client that does not take its answer within this long is dropped.
  std::chrono::milliseconds write_timeout{10000};
  /// Most connections served at once; one more is refused as over_capacity.
  std::size_t max_connections = std::numeric_limits<std::size_t>::max();
  /// How long stop() lets requests in flight finish before closing their connections;
  /// milliseconds::max(): as long as they take.
  std::chrono::milliseconds shutdown_grace = std::chrono::milliseconds::max();
};

/// An HTTP/1.1 server (Boost.Beast) on its own io threads, which never block. Per connection,
/// requests are read and answered one at a time (so pipelined ones in order), kept alive as the
/// client asks; after a final answer unread bytes are drained for up to 1 s, so that the client
/// reads it rather than a reset. Start once, stop once; stop() and the destructor may be called
/// from any thread except the server's own io threads.
class server {
public:
  /// Called on an io thread for each request; must not block. It answers through the exchange,
  /// now or later, or arms exchange::after() to bound the wait.
  using request_handler = std::function<void(request, exchange)>;
  /// The answer to a refused connection (`detail`: why, for malformed requests; "" otherwise).
  using refusal_handler = std::function<response(refusal, const std::string& detail)>;

  /// Nothing happens before start().
  server(server_options opts, request_handler on_request, refusal_handler on_refusal);
  /// Stops as stop() does.
  ~server();
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  /// Binds, listens and starts the io threads. Returns nullopt on success, otherwise why the
  /// server could not listen (bad host, port in use, already started).
  std::optional<std::string> start();

  /// The bound port once started (the ephemeral one when configured with 0); 0 before.
  uint16_t port() const;

  /// "host:port" of the bound socket once started ("[host]:port" for IPv6), "" before.
  std::string address() const;

  /// Stops accepting (new connections are refused once it has begun), closes idle connections
  /// and runs the `ends_on_stop` deadlines at once, lets requests in flight be answered (with
  /// Connection: close) for up to shutdown_grace, then closes what is left and joins the io
  /// threads. Idempotent; does nothing before start().
  void stop();

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace ordermesh::net
