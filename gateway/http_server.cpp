#include "gateway/http_server.hpp"

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
#include <condition_variable>
#include <exception>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

namespace ordermesh::gateway {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

/// After a final answer, how long unread request bytes are drained before closing. Closing with
/// unread bytes sends a reset, which can destroy the answer (a 413) before the client reads it.
constexpr std::chrono::seconds linger_timeout{1};

/// What sessions share with the server; outlives every session (see impl's member order).
struct server_core {
  server_core(config::gateway_config c, route_table r) : cfg(std::move(c)), routes(std::move(r)) {}

  config::gateway_config cfg;
  route_table routes;
  /// Set under impl::sessions_mutex, read by sessions without it.
  std::atomic<bool> stopping{false};
  /// Served connections open now (not those answered 503), against max_connections.
  std::atomic<std::size_t> served{0};
  /// All connections open now; stop() waits for it to reach 0.
  std::size_t open = 0;
  std::mutex open_mutex;
  std::condition_variable open_changed;
};

class session;

/// Where the responder of one request delivers: the session's strand, if it is still there.
struct session_slot final : detail::answer_slot {
  session_slot(std::weak_ptr<session> s, uint64_t seq) : owner(std::move(s)), seq(seq) {}
  void deliver(response r) override;
  std::weak_ptr<session> owner;
  uint64_t seq;
};

/// One connection. Every handler runs on the connection's strand.
class session : public std::enable_shared_from_this<session> {
public:
  session(tcp::socket&& socket, server_core& core, bool rejected)
      : stream_(std::move(socket)), timer_(stream_.get_executor()), core_(core),
        rejected_(rejected) {
    std::lock_guard<std::mutex> lock{core_.open_mutex};
    ++core_.open;
  }

  ~session() { release(); }

  void start() {
    beast::error_code ec;
    stream_.socket().set_option(tcp::no_delay(true), ec);
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] {
      if (self->rejected_) {
        auto r = make_problem({503, "about:blank", "", "too many connections; retry shortly", ""});
        r.headers.emplace_back("Retry-After", "1");
        self->answer_and_close(r);
      } else {
        self->read_next();
      }
    });
  }

  /// Asks the connection to finish: idle reads end now, requests in flight are still answered.
  void begin_stop() {
    asio::post(stream_.get_executor(), [self = shared_from_this()] { self->on_stop(); });
  }

  /// Closes now, answered or not (the grace period is over).
  void force_close() {
    asio::post(stream_.get_executor(), [self = shared_from_this()] { self->close(); });
  }

  /// Called on the strand with the answer to request `seq`.
  void on_answer(uint64_t seq, response r) {
    if (phase_ != phase::handling || seq != seq_) {
      return;
    }
    timer_.cancel();
    prepare(r);
    write();
  }

  asio::any_io_executor executor() { return stream_.get_executor(); }

private:
  enum class phase { reading, handling, writing, lingering, closed };

  void read_next() {
    if (core_.stopping || stop_requested_) {
      close();
      return;
    }
    phase_ = phase::reading;
    parser_.emplace();
    parser_->body_limit(core_.cfg.max_body);
    stream_.expires_after(core_.cfg.request_timeout);
    http::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (phase_ == phase::closed) {
      return;
    }
    if (ec == http::error::body_limit) {
      answer_and_close(make_problem(
          {413, "about:blank", "",
           "request bodies are limited to " + std::to_string(core_.cfg.max_body) + " bytes", ""}));
      return;
    }
    if (ec && (ec == http::error::end_of_stream ||
               ec.category() != http::make_error_code(http::error::end_of_stream).category())) {
      // The peer left, the read was cancelled or timed out: nobody is waiting for an answer.
      close();
      return;
    }
    if (ec) {
      answer_and_close(make_problem(
          {400, "about:blank", "", "the request is not valid HTTP/1.1: " + ec.message(), ""}));
      return;
    }
    auto& msg = parser_->get();
    request req;
    req.method = std::string{msg.method_string()};
    req.target = std::string{msg.target()};
    const auto q = req.target.find('?');
    req.path = req.target.substr(0, q);
    req.query = q == std::string::npos ? std::string{} : req.target.substr(q + 1);
    for (const auto& f : msg) {
      req.headers.emplace_back(std::string{f.name_string()}, std::string{f.value()});
    }
    req.body = std::move(msg.body());
    keep_alive_ = msg.keep_alive();
    version_ = msg.version();

    phase_ = phase::handling;
    stream_.expires_never();
    auto slot = std::make_shared<session_slot>(weak_from_this(), ++seq_);
    timer_.expires_after(core_.cfg.request_timeout);
    timer_.async_wait([self = shared_from_this(), slot](beast::error_code wait_ec) {
      if (wait_ec || slot->answered.exchange(true)) {
        return;
      }
      self->on_answer(slot->seq, make_problem({504, "about:blank", "",
                                               "the request was not answered in time", ""}));
    });
    try {
      core_.routes.dispatch(req, responder{slot});
    } catch (const std::exception& e) {
      observability::log_event(spdlog::level::err, "gateway handler threw",
                               {{"path", req.path}, {"error", e.what()}});
      if (!slot->answered.exchange(true)) {
        on_answer(slot->seq, make_problem({500, "about:blank", "", "internal error", req.path}));
      }
    }
  }

  void prepare(const response& r) {
    res_ = {};
    res_.version(version_);
    res_.result(r.status);
    res_.set(http::field::server, "ordermesh-gateway");
    res_.set(http::field::content_type, r.content_type);
    for (const auto& [name, value] : r.headers) {
      res_.set(name, value);
    }
    res_.body() = r.body;
  }

  void answer_and_close(const response& r) {
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
    res_.keep_alive(keep_alive_ && !core_.stopping && !stop_requested_);
    res_.prepare_payload();
    stream_.expires_after(core_.cfg.request_timeout);
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
    release();
  }

  /// Gives the connection's places back, once.
  void release() {
    if (released_) {
      return;
    }
    released_ = true;
    if (!rejected_) {
      --core_.served;
    }
    std::lock_guard<std::mutex> lock{core_.open_mutex};
    --core_.open;
    core_.open_changed.notify_all();
  }

  beast::tcp_stream stream_;
  asio::steady_timer timer_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> res_;
  std::array<char, 4096> drain_buffer_{};
  server_core& core_;
  const bool rejected_;
  phase phase_ = phase::reading;
  uint64_t seq_ = 0;
  bool stop_requested_ = false;
  bool keep_alive_ = true;
  bool released_ = false;
  unsigned version_ = 11;
};

void session_slot::deliver(response r) {
  if (auto s = owner.lock()) {
    auto ex = s->executor();
    asio::post(ex, [s = std::move(s), seq = seq, r = std::move(r)]() mutable {
      s->on_answer(seq, std::move(r));
    });
  }
}

} // namespace

struct http_server::impl {
  impl(config::gateway_config c, route_table routes)
      : core{std::move(c), std::move(routes)},
        thread_count(std::max<std::size_t>(core.cfg.io_threads, 1)),
        acceptor(asio::make_strand(ioc)) {
    core.routes.add("GET", "/health/live", [](const request&, const responder& answer) {
      answer(make_json(200, R"({"status":"live"})"));
    });
  }

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
      observability::log_event(spdlog::level::warn, "gateway accept failed",
                               {{"error", ec.message()}});
    } else {
      // Only this strand increments `served`, so the check and the increment do not race.
      const bool rejected = core.served >= core.cfg.max_connections;
      if (!rejected) {
        ++core.served;
      }
      auto s = std::make_shared<session>(std::move(socket), core, rejected);
      if (enroll(s)) {
        s->start();
      }
    }
    accept();
  }

  /// Remembers `s` for stop(); false when stopping (the connection is then dropped).
  bool enroll(const std::shared_ptr<session>& s) {
    std::lock_guard<std::mutex> lock{sessions_mutex};
    if (core.stopping) {
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
        observability::log_event(spdlog::level::err, "gateway io thread caught an exception",
                                 {{"error", e.what()}});
      }
    }
  }

  // Declared before ioc: sessions still queued in ioc refer to it when ioc is destroyed.
  server_core core;
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
};

http_server::http_server(config::gateway_config cfg, route_table routes)
    : impl_(std::make_unique<impl>(std::move(cfg), std::move(routes))) {}

http_server::~http_server() {
  stop();
}

std::optional<std::string> http_server::start() {
  auto& s = *impl_;
  std::lock_guard<std::mutex> lock{s.lifecycle_mutex};
  if (s.started) {
    return "already started";
  }
  const auto& cfg = s.core.cfg;
  const auto where = cfg.host + ":" + std::to_string(cfg.port);
  beast::error_code ec;
  tcp::resolver resolver{s.ioc};
  const auto found =
      resolver.resolve(cfg.host, std::to_string(cfg.port), tcp::resolver::numeric_service, ec);
  if (ec || found.empty()) {
    return "cannot resolve gateway.host \"" + cfg.host + "\": " + ec.message();
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

uint16_t http_server::port() const {
  return impl_->bound.port();
}

void http_server::stop() {
  auto& s = *impl_;
  std::lock_guard<std::mutex> lock{s.lifecycle_mutex};
  if (!s.started || s.stopped) {
    return;
  }
  s.stopped = true;
  std::vector<std::weak_ptr<session>> snapshot;
  {
    std::lock_guard<std::mutex> sessions_lock{s.sessions_mutex};
    s.core.stopping = true;
    snapshot = s.sessions;
  }
  // Closed synchronously-ordered on its strand; connections attempted afterwards are refused.
  std::promise<void> closed;
  asio::post(s.acceptor.get_executor(), [&s, &closed] {
    beast::error_code ignored;
    s.acceptor.close(ignored);
    closed.set_value();
  });
  closed.get_future().wait();
  for (const auto& w : snapshot) {
    if (auto session = w.lock()) {
      session->begin_stop();
    }
  }
  {
    std::unique_lock<std::mutex> open_lock{s.core.open_mutex};
    s.core.open_changed.wait_for(open_lock, s.core.cfg.shutdown_grace,
                                 [&s] { return s.core.open == 0; });
  }
  for (const auto& w : snapshot) {
    if (auto session = w.lock()) {
      session->force_close();
    }
  }
  s.work.reset();
  for (auto& t : s.threads) {
    t.join();
  }
  s.threads.clear();
}

} // namespace ordermesh::gateway
