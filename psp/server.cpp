#include "psp/server.hpp"

#include "observability/log.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <exception>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace ordermesh::psp {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

constexpr std::size_t body_limit = 64 * 1024;
/// A keep-alive connection with no request for this long is closed.
constexpr std::chrono::seconds idle_timeout{60};
/// A client that does not take its answer within this long is dropped.
constexpr std::chrono::seconds write_timeout{10};
/// After a final answer, how long unread request bytes are drained before closing. Closing with
/// unread bytes sends a reset, which can destroy the answer (a 413) before the client reads it.
constexpr std::chrono::seconds linger_timeout{1};

/// One connection. Every handler runs on the connection's strand.
class session : public std::enable_shared_from_this<session> {
public:
  session(tcp::socket&& socket, psp_service& service, const std::atomic<bool>& server_stopping)
      : stream_(std::move(socket)), timer_(stream_.get_executor()), service_(service),
        server_stopping_(server_stopping) {}

  void start() {
    beast::error_code ec;
    stream_.socket().set_option(tcp::no_delay(true), ec);
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->read_next(); });
  }

  /// Asks the connection to finish: idle reads and held requests end now, answers in flight
  /// are still written.
  void begin_stop() {
    asio::post(stream_.get_executor(), [self = shared_from_this()] { self->on_stop(); });
  }

private:
  enum class phase { reading, delaying, hanging, writing, lingering, closed };

  void read_next() {
    if (server_stopping_ || stop_requested_) {
      close();
      return;
    }
    phase_ = phase::reading;
    parser_.emplace();
    parser_->body_limit(body_limit);
    stream_.expires_after(idle_timeout);
    http::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (phase_ == phase::closed) {
      return;
    }
    if (ec == http::error::body_limit) {
      answer_and_close(problem(413, "payload-too-large", "Payload Too Large",
                               "request bodies are limited to 64 KiB"));
      return;
    }
    if (ec && (ec == http::error::end_of_stream ||
               ec.category() != http::make_error_code(http::error::end_of_stream).category())) {
      // The peer left, the read was cancelled or timed out: nobody is waiting for an answer.
      close();
      return;
    }
    if (ec) {
      answer_and_close(problem(400, "bad-request", "Bad Request",
                               "the request is not valid HTTP/1.1: " + ec.message()));
      return;
    }
    const auto& req = parser_->get();
    request_view view;
    view.method = std::string{req.method_string()};
    view.target = std::string{req.target()};
    if (const auto key = req.find("Idempotency-Key"); key != req.end()) {
      view.idempotency_key = std::string{key->value()};
    }
    view.body = req.body();
    keep_alive_ = req.keep_alive();
    version_ = req.version();
    plan p;
    try {
      p = service_.handle(view);
    } catch (const std::exception& e) {
      p = plan{problem(500, "internal-error", "Internal Server Error", e.what()), {}, false};
    }
    prepare(p.answer);
    if (p.hang) {
      phase_ = phase::hanging;
      wait(p.delay, [self = shared_from_this()] { self->close(); });
      return;
    }
    if (p.delay.count() > 0) {
      phase_ = phase::delaying;
      wait(p.delay, [self = shared_from_this()] { self->write(); });
      return;
    }
    write();
  }

  template <class Then>
  void wait(std::chrono::milliseconds delay, Then then) {
    timer_.expires_after(delay);
    timer_.async_wait([then = std::move(then)](beast::error_code) { then(); });
  }

  void prepare(const reply& r) {
    res_ = {};
    res_.version(version_);
    res_.result(r.status);
    res_.set(http::field::server, "ordermesh-psp");
    res_.set(http::field::content_type, r.content_type);
    for (const auto& [name, value] : r.headers) {
      res_.set(name, value);
    }
    res_.body() = r.body;
  }

  void answer_and_close(const reply& r) {
    keep_alive_ = false;
    version_ = 11;
    prepare(r);
    write();
  }

  void write() {
    if (phase_ == phase::closed) {
      return;
    }
    phase_ = phase::writing;
    res_.keep_alive(keep_alive_ && !server_stopping_ && !stop_requested_);
    res_.prepare_payload();
    stream_.expires_after(write_timeout);
    http::async_write(
        stream_, res_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_write(ec); });
  }

  void on_write(beast::error_code ec) {
    if (ec) {
      close();
      return;
    }
    if (!res_.keep_alive()) {
      linger();
      return;
    }
    read_next();
  }

  void linger() {
    phase_ = phase::lingering;
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.expires_after(linger_timeout);
    drain();
  }

  void drain() {
    stream_.async_read_some(asio::buffer(drain_buffer_),
                            [self = shared_from_this()](beast::error_code ec, std::size_t) {
                              if (ec) {
                                self->close();
                              } else {
                                self->drain();
                              }
                            });
  }

  void on_stop() {
    stop_requested_ = true;
    if (phase_ == phase::reading || phase_ == phase::lingering) {
      close();
    } else if (phase_ == phase::hanging) {
      timer_.cancel();
    }
  }

  void close() {
    if (phase_ == phase::closed) {
      return;
    }
    phase_ = phase::closed;
    beast::error_code ignored;
    timer_.cancel();
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.close();
  }

  beast::tcp_stream stream_;
  asio::steady_timer timer_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> res_;
  std::array<char, 4096> drain_buffer_{};
  psp_service& service_;
  const std::atomic<bool>& server_stopping_;
  phase phase_ = phase::reading;
  bool stop_requested_ = false;
  bool keep_alive_ = true;
  unsigned version_ = 11;
};

} // namespace

struct psp_server::impl {
  impl(config::psp_config c, std::size_t threads)
      : cfg(std::move(c)), service(cfg), thread_count(std::max<std::size_t>(threads, 1)),
        acceptor(asio::make_strand(ioc)) {}

  void accept() {
    acceptor.async_accept(asio::make_strand(ioc), [this](beast::error_code ec, tcp::socket s) {
      on_accept(ec, std::move(s));
    });
  }

  void on_accept(beast::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) {
      return;
    }
    if (ec) {
      observability::log_event(spdlog::level::warn, "psp accept failed", {{"error", ec.message()}});
    } else {
      auto s = std::make_shared<session>(std::move(socket), service, stopping);
      if (enroll(s)) {
        s->start();
      }
    }
    accept();
  }

  /// Remembers `s` for stop(); false when stopping (the connection is then dropped).
  bool enroll(const std::shared_ptr<session>& s) {
    std::lock_guard<std::mutex> lock{sessions_mutex};
    if (stopping) {
      return false;
    }
    sessions.erase(std::remove_if(sessions.begin(), sessions.end(),
                                  [](const std::weak_ptr<session>& w) { return w.expired(); }),
                   sessions.end());
    sessions.push_back(s);
    return true;
  }

  void run_io() {
    while (true) {
      try {
        ioc.run();
        return;
      } catch (const std::exception& e) {
        observability::log_event(spdlog::level::err, "psp io thread caught an exception",
                                 {{"error", e.what()}});
      }
    }
  }

  config::psp_config cfg;
  psp_service service;
  std::size_t thread_count;
  asio::io_context ioc;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  tcp::acceptor acceptor;
  std::vector<std::thread> threads;

  std::mutex lifecycle_mutex;
  bool started = false;
  bool stopped = false;
  tcp::endpoint bound;

  std::mutex sessions_mutex;
  std::vector<std::weak_ptr<session>> sessions;
  /// Set under sessions_mutex, read by sessions without it.
  std::atomic<bool> stopping{false};
};

psp_server::psp_server(config::psp_config cfg, std::size_t io_threads)
    : impl_(std::make_unique<impl>(std::move(cfg), io_threads)) {}

psp_server::~psp_server() {
  stop();
}

std::optional<std::string> psp_server::start() {
  auto& s = *impl_;
  std::lock_guard<std::mutex> lock{s.lifecycle_mutex};
  if (s.started) {
    return "already started";
  }
  const auto where = s.cfg.host + ":" + std::to_string(s.cfg.port);
  beast::error_code ec;
  tcp::resolver resolver{s.ioc};
  const auto found =
      resolver.resolve(s.cfg.host, std::to_string(s.cfg.port), tcp::resolver::numeric_service, ec);
  if (ec || found.empty()) {
    return "cannot resolve psp.host \"" + s.cfg.host + "\": " + ec.message();
  }
  const tcp::endpoint endpoint = found.begin()->endpoint();
  s.acceptor.open(endpoint.protocol(), ec);
  if (!ec) {
    s.acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  }
  if (!ec) {
    s.acceptor.bind(endpoint, ec);
  }
  if (!ec) {
    s.acceptor.listen(asio::socket_base::max_listen_connections, ec);
  }
  if (!ec) {
    s.bound = s.acceptor.local_endpoint(ec);
  }
  if (ec) {
    beast::error_code ignored;
    s.acceptor.close(ignored);
    return "cannot listen on " + where + ": " + ec.message();
  }
  s.work.emplace(asio::make_work_guard(s.ioc));
  asio::post(s.acceptor.get_executor(), [&s] { s.accept(); });
  for (std::size_t i = 0; i < s.thread_count; ++i) {
    s.threads.emplace_back([&s] { s.run_io(); });
  }
  s.started = true;
  return std::nullopt;
}

uint16_t psp_server::port() const {
  return impl_->bound.port();
}

std::string psp_server::address() const {
  if (impl_->bound.port() == 0) {
    return {};
  }
  const auto host = impl_->bound.address().to_string();
  return impl_->bound.address().is_v6() ? "[" + host + "]:" + std::to_string(port())
                                        : host + ":" + std::to_string(port());
}

void psp_server::stop() {
  auto& s = *impl_;
  std::lock_guard<std::mutex> lock{s.lifecycle_mutex};
  if (!s.started || s.stopped) {
    return;
  }
  s.stopped = true;
  std::vector<std::weak_ptr<session>> snapshot;
  {
    std::lock_guard<std::mutex> sessions_lock{s.sessions_mutex};
    s.stopping = true;
    snapshot = s.sessions;
  }
  asio::post(s.acceptor.get_executor(), [&s] {
    beast::error_code ignored;
    s.acceptor.close(ignored);
  });
  for (const auto& w : snapshot) {
    if (auto session = w.lock()) {
      session->begin_stop();
    }
  }
  // The io threads return once the last connection has finished.
  s.work.reset();
  for (auto& t : s.threads) {
    t.join();
  }
  s.threads.clear();
}

psp_stats psp_server::stats() const {
  return impl_->service.stats();
}

fault_settings psp_server::faults() const {
  return impl_->service.faults();
}

void psp_server::set_faults(const fault_settings& faults) {
  impl_->service.set_faults(faults);
}

} // namespace ordermesh::psp
