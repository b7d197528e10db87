// A node process for the crash test (saga_crash_test.cpp): starts the node's actors against the
// database in the environment, restocks one SKU, places N one-unit orders on it, and then runs
// until it is killed. Usage: saga_node <psp port> <orders> <stock>
#include "actors/inventory/messages.hpp"
#include "actors/inventory/replies.hpp"
#include "actors/order/messages.hpp"
#include "actors/runtime/messages.hpp"
#include "actors/system.hpp"
#include "config/loader.hpp"
#include "core/actor_system.hpp"

#include <caf/all.hpp>

#include <iostream>
#include <thread>

using namespace ordermesh;
using namespace std::chrono_literals;

int main(int argc, char** argv) {
  if (argc != 4) {
    std::cerr << "usage: saga_node <psp port> <orders> <stock>\n";
    return 2;
  }
  auto loaded = config::load({{}, config::process_env(), {}, {}});
  if (auto* err = std::get_if<config::config_error>(&loaded)) {
    std::cerr << err->line() << "\n";
    return 2;
  }
  auto cfg = std::get<config::loaded_config>(loaded).values;
  cfg.psp.port = static_cast<uint16_t>(std::stoi(argv[1]));
  cfg.psp.client_timeout = 1000ms;
  int orders = std::stoi(argv[2]);
  int64_t stock = std::stoll(argv[3]);

  caf::actor_system_config caf_cfg;
  core::configure(caf_cfg);
  caf::actor_system sys{caf_cfg};
  cfg.saga.step_timeout = 3000ms;
  auto node = actors::start_node_actors(sys, cfg);
  caf::scoped_actor self{sys};
  actors::envelope env;
  env.message_id = "restock-crash-sku";
  self->request(node.hosts->inventory, 10s, actors::runtime::route_atom::value,
                std::string{"crash-sku"}, env, caf::make_message(actors::inventory::restock{stock}))
      .receive([](actors::inventory::inventory_reply&) {}, [](caf::error&) {});
  for (int i = 0; i < orders; ++i) {
    auto oid = "crash-" + std::to_string(i);
    actors::envelope e;
    e.message_id = "place-" + oid;
    e.correlation_id = oid;
    self->send(node.hosts->order, actors::runtime::route_atom::value, oid, e,
               caf::make_message(actors::order::place_order{
                   oid, "customer", {{"crash-sku", 1}}, {"tok_visa", 1000}}));
  }
  std::cout << "placed " << orders << " orders" << std::endl;
  for (;;) {
    std::this_thread::sleep_for(1s); // until SIGKILL
  }
}
