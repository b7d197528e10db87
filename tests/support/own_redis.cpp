#include "tests/support/own_redis.hpp"

#include <boost/test/unit_test.hpp>

#include <chrono>
#include <string>
#include <vector>

namespace ordermesh::testing {

own_redis::own_redis() {
  start();
}

own_redis::~own_redis() {
  if (server_) {
    server_->terminate(std::chrono::seconds{2});
  }
}

void own_redis::kill_now() {
  if (server_) {
    server_->kill_now();
    server_.reset();
  }
}

void own_redis::restart() {
  kill_now();
  start();
}

void own_redis::start() {
  server_ = std::make_unique<child_process>(
      std::vector<std::string>{"redis-server", "--port", std::to_string(port_.port()), "--bind",
                               "127.0.0.1", "--save", "", "--appendonly", "no"});
  BOOST_TEST_REQUIRE(
      server_->wait_for_output("Ready to accept connections", std::chrono::seconds{10})
          .has_value());
}

} // namespace ordermesh::testing
