// bench/http_ceiling: the least an HTTP/1.1 server on Boost.Beast can do per request, as the
// ceiling of bench/http's GET figure. One io_context run by N threads (the gateway's io_threads),
// each connection on its own strand, keep-alive, and every request answered 200 with one constant
// JSON body: no routing, no JSON work, no cache, no logging.
//
//   http_ceiling <port> <io_threads> [body_file]
//
// Port 0 picks a free port. Prints "listening on 127.0.0.1:<port>" once it accepts, then serves
// until SIGTERM or SIGINT. body_file: serve its content (e.g. a real GET /orders/{id} answer, so
// that both runs move the same bytes); default {"status":"ok"}.
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

/// One keep-alive connection: read a request, write the constant answer, repeat.
class connection : public std::enable_shared_from_this<connection> {
public:
  connection(tcp::socket socket, std::shared_ptr<const std::string> body)
      : stream_{std::move(socket)}, body_{std::move(body)} {}

  void start() {
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->read(); });
  }

private:
  void read() {
    request_ = {};
    http::async_read(
        stream_, buffer_, request_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec) {
      close();
      return;
    }
    response_ = {};
    response_.result(http::status::ok);
    response_.version(request_.version());
    response_.set(http::field::content_type, "application/json");
    response_.keep_alive(request_.keep_alive());
    response_.body() = *body_;
    response_.prepare_payload();
    http::async_write(stream_, response_,
                      [self = shared_from_this()](beast::error_code ec, std::size_t) {
                        if (ec || !self->response_.keep_alive()) {
                          self->close();
                          return;
                        }
                        self->read();
                      });
  }

  void close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.close();
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  http::request<http::string_body> request_;
  http::response<http::string_body> response_;
  std::shared_ptr<const std::string> body_;
};

/// Accepts connections, each onto a new strand of the shared io_context.
class listener : public std::enable_shared_from_this<listener> {
public:
  listener(asio::io_context& ioc, tcp::endpoint at, std::shared_ptr<const std::string> body)
      : ioc_{ioc}, acceptor_{asio::make_strand(ioc)}, body_{std::move(body)} {
    acceptor_.open(at.protocol());
    acceptor_.set_option(asio::socket_base::reuse_address{true});
    acceptor_.bind(at);
    acceptor_.listen(asio::socket_base::max_listen_connections);
  }

  uint16_t port() const { return acceptor_.local_endpoint().port(); }

  void accept() {
    acceptor_.async_accept(asio::make_strand(ioc_),
                           [self = shared_from_this()](beast::error_code ec, tcp::socket s) {
                             if (ec) {
                               return; // closed on stop
                             }
                             s.set_option(tcp::no_delay{true}, ec);
                             std::make_shared<connection>(std::move(s), self->body_)->start();
                             self->accept();
                           });
  }

  void stop() {
    beast::error_code ignored;
    acceptor_.close(ignored);
  }

private:
  asio::io_context& ioc_;
  tcp::acceptor acceptor_;
  std::shared_ptr<const std::string> body_;
};

std::string read_file(const char* path) {
  std::ifstream in{path, std::ios::binary};
  if (!in) {
    throw std::runtime_error{std::string{"cannot read "} + path};
  }
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

} // namespace

int main(int argc, char** argv) {
  if (argc < 3 || argc > 4) {
    std::cerr << "usage: http_ceiling <port> <io_threads> [body_file]\n";
    return 2;
  }
  try {
    const auto port = static_cast<uint16_t>(std::stoi(argv[1]));
    const auto threads = std::max(1, std::stoi(argv[2]));
    auto body =
        std::make_shared<const std::string>(argc == 4 ? read_file(argv[3]) : R"({"status":"ok"})");

    asio::io_context ioc{threads};
    auto server = std::make_shared<listener>(
        ioc, tcp::endpoint{asio::ip::make_address("127.0.0.1"), port}, body);
    server->accept();
    asio::signal_set signals{ioc, SIGINT, SIGTERM};
    signals.async_wait([&](beast::error_code, int) {
      server->stop();
      ioc.stop();
    });
    std::cout << "listening on 127.0.0.1:" << server->port() << " with " << threads
              << " io threads, body " << body->size() << " bytes" << std::endl;

    std::vector<std::thread> pool;
    for (int i = 1; i < threads; ++i) {
      pool.emplace_back([&ioc] { ioc.run(); });
    }
    ioc.run();
    for (auto& t : pool) {
      t.join();
    }
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "http_ceiling: " << e.what() << "\n";
    return 1;
  }
}
