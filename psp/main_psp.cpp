#include "psp/main_psp.hpp"

#include "observability/log.hpp"
#include "psp/server.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include <csignal>
#include <exception>

namespace ordermesh::psp {

int run_psp(const config::app_config& cfg) {
  try {
    // Signals are caught before the server starts, so that none is lost in between.
    boost::asio::io_context signals_io;
    boost::asio::signal_set signals{signals_io, SIGINT, SIGTERM};
    int received = 0;
    signals.async_wait([&received](const boost::system::error_code& ec, int signal) {
      if (!ec) {
        received = signal;
      }
    });

    psp_server server{cfg.psp};
    if (auto problem = server.start()) {
      observability::log_event(spdlog::level::err, "psp cannot start", {{"error", *problem}});
      return 1;
    }
    const auto& p = cfg.psp;
    observability::log_event(spdlog::level::info, "psp listening",
                             {{"address", server.address()},
                              {"port", server.port()},
                              {"latency_ms", p.latency.count()},
                              {"latency_jitter_ms", p.latency_jitter.count()},
                              {"failure_rate", p.failure_rate},
                              {"timeout_rate", p.timeout_rate},
                              {"decline_rate", p.decline_rate},
                              {"hang_ms", p.hang.count()},
                              {"seed", p.seed}});
    signals_io.run();
    observability::log_event(spdlog::level::info, "psp stopping", {{"signal", received}});
    server.stop();
    const auto s = server.stats();
    observability::log_event(spdlog::level::info, "psp stopped",
                             {{"requests", s.requests},
                              {"authorizations", s.authorizations},
                              {"captures", s.captures},
                              {"refunds", s.refunds}});
    return 0;
  } catch (const std::exception& e) {
    observability::log_event(spdlog::level::err, "psp failed", {{"error", e.what()}});
    return 1;
  }
}

} // namespace ordermesh::psp
