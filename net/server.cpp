#include "net/server.hpp"

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
#include <utility>

namespace ordermesh::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

/// After a final answer, how long unread request bytes are drained before closing. Closing with
/// unread bytes sends a reset, which can destroy the answer (a 413) before the client reads it.
constexpr std::chrono::seconds linger_timeout{1};

} // namespace

std::optional<std::string> request::header(std::string_view name) const {
  for (const auto& [n, v] : headers) {
    if (beast::iequals(n, name)) {
      return v;
    }
  }
  return std::nullopt;
}

namespace detail {

/// What sessions share with the server; outlives every session (see server::impl's member order).
struct shared_state {
  const server_options opts;
  const server::request_handler on_request;
  const server::refusal_handler on_refusal;
  /// Set under server::impl::sessions_mutex, read by sessions without it.
  std::atomic<bool> stopping{false};
  /// Served connections open now (not those refused over capacity), against max_connections.
  std::atomic<std::size_t> served{0};
  /// All connections open now; stop() waits for it to reach 0.
  std::size_t open = 0;
  std::mutex open_mutex{};
  std::condition_variable open_changed{};
};

/// One connection. Every handler runs on the connection's strand.
class session : public std::enable_shared_from_this<session> {
public:
  session(tcp::socket&& socket, shared_state& shared, bool rejected)
      : stream_(std::move(socket)), timer_(stream_.get_executor()), shared_(shared),
        rejected_(rejected) {
    std::lock_guard<std::mutex> lock{shared_.open_mutex};
    ++shared_.open;
  }

  /// Gives the connection's places back; closing lets go of every reference soon after.
  ~session() {
    if (!rejected_) {
      --shared_.served;
    }
    std::lock_guard<std::mutex> lock{shared_.open_mutex};
    --shared_.open;
    shared_.open_changed.notify_all();
  }

  void start() {
    beast::error_code ec;
    stream_.socket().set_option(tcp::no_delay(true), ec);
    const auto peer = stream_.socket().remote_endpoint(ec);
    remote_address_ = ec ? std::string{} : peer.address().to_string();
    on_strand([](session& s) {
      if (s.rejected_) {
        s.refuse(refusal::over_capacity, "");
      } else {
        s.read_next();
      }
    });
  }

  /// Runs `f(*this)` on the connection's strand: at once when called there, else later.
  template <class F>
  void on_strand(F f) {
    asio::dispatch(stream_.get_executor(),
                   [self = shared_from_this(), f = std::move(f)]() mutable { f(*self); });
  }

  /// Ends request `seq` with the answer `r`, or without one when nullopt; from any thread.
  /// Ignored unless that request is still waiting for its answer.
  void finish(uint64_t seq, std::optional<response> r) {
    on_strand([seq, r = std::move(r)](session& s) {
      if (s.phase_ != phase::handling || seq != s.seq_) {
        return;
      }
      if (!r) {
        s.close();
        return;
      }
      s.timer_.cancel();
      s.deadline_ = nullptr;
      s.keep_.reset();
      s.prepare(*r);
      s.write();
    });
  }

  /// exchange::after(): on the strand, inside the request handler.
  void after(uint64_t seq, std::chrono::milliseconds delay, std::function<void()> then,
             bool ends_on_stop) {
    if (phase_ != phase::handling || seq != seq_) {
      return;
    }
    deadline_ = std::move(then);
    deadline_ends_on_stop_ = ends_on_stop;
    const auto armed = ++deadlines_armed_;
    // Re-arming cancels the wait armed before: that one must not run the new deadline.
    timer_.expires_after(delay);
    // Also runs when cancelled: the phase, seq and the latest arming decide (see on_stop).
    timer_.async_wait([self = shared_from_this(), seq, armed](beast::error_code) {
      if (self->phase_ == phase::handling && self->seq_ == seq && self->deadlines_armed_ == armed &&
          self->deadline_) {
        std::exchange(self->deadline_, nullptr)();
      }
    });
  }

  /// On the strand, from stop(): idle reads end now, so do `ends_on_stop` deadlines; requests
  /// in flight are still answered.
  void on_stop() {
    stop_requested_ = true;
    if (phase_ == phase::reading || phase_ == phase::lingering) {
      close();
    } else if (phase_ == phase::handling && deadline_ && deadline_ends_on_stop_) {
      timer_.cancel(); // runs the deadline now
    }
  }

  /// On the strand: closes now, answered or not. Every caller holds a reference of its own, so
  /// keep_ is never the last one.
  void close() {
    if (phase_ == phase::closed) {
      return;
    }
    phase_ = phase::closed;
    beast::error_code ignored;
    timer_.cancel();
    deadline_ = nullptr;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.close();
    keep_.reset();
  }

private:
  enum class phase { reading, handling, writing, lingering, closed };

  void read_next() {
    if (shared_.stopping || stop_requested_) {
      close();
      return;
    }
    phase_ = phase::reading;
    parser_.emplace();
    parser_->body_limit(shared_.opts.max_body);
    stream_.expires_after(shared_.opts.read_timeout);
    http::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (phase_ == phase::closed) {
      return;
    }
    if (ec == http::error::body_limit) {
      refuse(refusal::too_large, "");
      return;
    }
    if (ec && (ec == http::error::end_of_stream ||
               ec.category() != http::make_error_code(http::error::end_of_stream).category())) {
      // The peer left, the read was cancelled or timed out: nobody is waiting for an answer.
      close();
      return;
    }
    if (ec) {
      refuse(refusal::malformed, ec.message());
      return;
    }
    auto& msg = parser_->get();
    request req;
    req.method = std::string{msg.method_string()};
    req.target = std::string{msg.target()};
    for (const auto& f : msg) {
      req.headers.emplace_back(std::string{f.name_string()}, std::string{f.value()});
    }
    req.body = std::move(msg.body());
    req.remote_address = remote_address_;
    keep_alive_ = msg.keep_alive();
    version_ = msg.version();
    phase_ = phase::handling;
    stream_.expires_never();
    keep_ = shared_from_this(); // the connection waits for the answer, whoever else lets go
    shared_.on_request(std::move(req), exchange{weak_from_this(), ++seq_});
  }

  void prepare(const response& r) {
    res_ = {};
    res_.version(version_);
    res_.result(r.status);
    res_.set(http::field::server, "ordermesh-" + shared_.opts.name);
    res_.set(http::field::content_type, r.content_type);
    for (const auto& [name, value] : r.headers) {
      res_.set(name, value);
    }
    res_.body() = r.body;
  }

  void refuse(refusal why, const std::string& detail) {
    keep_alive_ = false;
    version_ = 11;
    prepare(shared_.on_refusal(why, detail));
    write();
  }

  void write() {
    if (phase_ == phase::closed) {
      return;
    }
    phase_ = phase::writing;
    res_.keep_alive(keep_alive_ && !shared_.stopping && !stop_requested_);
    res_.prepare_payload();
    stream_.expires_after(shared_.opts.write_timeout);
    http::async_write(
        stream_, res_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_write(ec); });
  }

  void on_write(beast::error_code ec) {
    if (ec) {
      close();
    } else if (!res_.keep_alive()) {
      linger();
    } else {
      read_next();
    }
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

  beast::tcp_stream stream_;
  asio::steady_timer timer_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> res_;
  std::array<char, 4096> drain_buffer_{};
  shared_state& shared_;
  const bool rejected_;
  std::string remote_address_;
  phase phase_ = phase::reading;
  /// Numbers the requests, so that a late answer or deadline cannot touch the next one.
  uint64_t seq_ = 0;
  /// This session, while its request waits for an answer.
  std::shared_ptr<session> keep_;
  /// What exchange::after() armed for the request being handled.
  std::function<void()> deadline_;
  /// Counts exchange::after() calls: only the wait armed last may run deadline_.
  uint64_t deadlines_armed_ = 0;
  bool deadline_ends_on_stop_ = false;
  bool stop_requested_ = false;
  bool keep_alive_ = true;
  unsigned version_ = 11;
};

} // namespace detail

void exchange::answer(response r) const {
  if (auto s = session_.lock()) {
    s->finish(seq_, std::move(r));
  }
}

void exchange::close() const {
  if (auto s = session_.lock()) {
    s->finish(seq_, std::nullopt);
  }
}

void exchange::after(std::chrono::milliseconds delay, std::function<void()> then,
                     bool ends_on_stop) const {
  if (auto s = session_.lock()) {
    s->after(seq_, delay, std::move(then), ends_on_stop);
  }
}

struct server::impl {
  impl(server_options opts, request_handler on_request, refusal_handler on_refusal)
      : shared{std::move(opts), std::move(on_request), std::move(on_refusal)},
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
      observability::log_event(spdlog::level::warn, shared.opts.name + " accept failed",
                               {{"error", ec.message()}});
    } else {
      // Only this strand increments `served`, so the check and the increment do not race.
      const bool rejected = shared.served >= shared.opts.max_connections;
      if (!rejected) {
        ++shared.served;
      }
      auto s = std::make_shared<detail::session>(std::move(socket), shared, rejected);
      if (enroll(s)) {
        s->start();
      }
    }
    accept();
  }

  /// Remembers `s` for stop(); false when stopping (the connection is then dropped).
  bool enroll(const std::shared_ptr<detail::session>& s) {
    std::lock_guard<std::mutex> lock{sessions_mutex};
    if (shared.stopping) {
      return false;
    }
    sessions.erase(
        std::remove_if(sessions.begin(), sessions.end(), [](const auto& w) { return w.expired(); }),
        sessions.end());
    sessions.push_back(s);
    return true;
  }

  std::optional<std::string> listen() {
    const auto& o = shared.opts;
    beast::error_code ec;
    const auto found = tcp::resolver{ioc}.resolve(o.host, std::to_string(o.port),
                                                  tcp::resolver::numeric_service, ec);
    if (ec || found.empty()) {
      return "cannot resolve " + o.name + ".host \"" + o.host + "\": " + ec.message();
    }
    try {
      const tcp::endpoint endpoint = found.begin()->endpoint();
      acceptor.open(endpoint.protocol());
      acceptor.set_option(asio::socket_base::reuse_address(true));
      acceptor.bind(endpoint);
      acceptor.listen(asio::socket_base::max_listen_connections);
      bound = acceptor.local_endpoint();
      return std::nullopt;
    } catch (const boost::system::system_error& e) {
      acceptor.close(ec);
      return "cannot listen on " + o.host + ":" + std::to_string(o.port) + ": " +
             e.code().message();
    }
  }

  void run_io() {
    while (true) {
      try {
        ioc.run();
        return;
      } catch (const std::exception& e) {
        observability::log_event(spdlog::level::err,
                                 shared.opts.name + " io thread caught an exception",
                                 {{"error", e.what()}});
      }
    }
  }

  /// Waits until no connection is open, or until shutdown_grace has passed.
  void wait_for_connections() {
    std::unique_lock<std::mutex> lock{shared.open_mutex};
    const auto none_open = [this] { return shared.open == 0; };
    if (shared.opts.shutdown_grace == std::chrono::milliseconds::max()) {
      shared.open_changed.wait(lock, none_open);
    } else {
      shared.open_changed.wait_for(lock, shared.opts.shutdown_grace, none_open);
    }
  }

  // Declared before ioc: sessions still queued in ioc refer to it when ioc is destroyed.
  detail::shared_state shared;
  asio::io_context ioc;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  tcp::acceptor acceptor;
  std::vector<std::thread> threads;

  std::mutex lifecycle_mutex;
  bool started = false;
  bool stopped = false;
  tcp::endpoint bound;

  std::mutex sessions_mutex;
  std::vector<std::weak_ptr<detail::session>> sessions;
};

server::server(server_options opts, request_handler on_request, refusal_handler on_refusal)
    : impl_(std::make_unique<impl>(std::move(opts), std::move(on_request), std::move(on_refusal))) {
}

server::~server() {
  stop();
}

std::optional<std::string> server::start() {
  auto& s = *impl_;
  std::lock_guard<std::mutex> lock{s.lifecycle_mutex};
  if (s.started) {
    return "already started";
  }
  if (auto problem = s.listen()) {
    return problem;
  }
  s.work.emplace(asio::make_work_guard(s.ioc));
  asio::post(s.acceptor.get_executor(), [&s] { s.accept(); });
  const auto threads = std::max<std::size_t>(s.shared.opts.io_threads, 1);
  for (std::size_t i = 0; i < threads; ++i) {
    s.threads.emplace_back([&s] { s.run_io(); });
  }
  s.started = true;
  return std::nullopt;
}

uint16_t server::port() const {
  return impl_->bound.port();
}

std::string server::address() const {
  const auto& bound = impl_->bound;
  if (bound.port() == 0) {
    return {};
  }
  const auto host = bound.address().to_string();
  const auto port = std::to_string(bound.port());
  return bound.address().is_v6() ? "[" + host + "]:" + port : host + ":" + port;
}

void server::stop() {
  auto& s = *impl_;
  std::lock_guard<std::mutex> lock{s.lifecycle_mutex};
  if (!s.started || s.stopped) {
    return;
  }
  s.stopped = true;
  std::vector<std::weak_ptr<detail::session>> snapshot;
  {
    std::lock_guard<std::mutex> sessions_lock{s.sessions_mutex};
    s.shared.stopping = true;
    snapshot = s.sessions;
  }
  // Closed on its strand, and waited for: connections attempted afterwards are refused.
  std::promise<void> closed;
  asio::post(s.acceptor.get_executor(), [&s, &closed] {
    beast::error_code ignored;
    s.acceptor.close(ignored);
    closed.set_value();
  });
  closed.get_future().wait();
  const auto on_each = [&snapshot](auto f) {
    for (const auto& w : snapshot) {
      if (auto session = w.lock()) {
        session->on_strand(f);
      }
    }
  };
  on_each([](detail::session& session) { session.on_stop(); });
  s.wait_for_connections();
  on_each([](detail::session& session) { session.close(); }); // the grace period is over
  s.work.reset();
  for (auto& t : s.threads) {
    t.join();
  }
  s.threads.clear();
}

} // namespace ordermesh::net
