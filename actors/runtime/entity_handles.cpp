#include "actors/runtime/entity_handles.hpp"

#include <caf/all.hpp>

#include <shared_mutex>

namespace ordermesh::actors::runtime {

namespace {

/// The tables of the hosts of this process, by the host's actor (the address is unique while the
/// host lives; it is forgotten when the host ends).
struct host_tables {
  std::shared_mutex mutex;
  std::unordered_map<const caf::actor_control_block*, std::shared_ptr<entity_handles>> tables;
};

host_tables& all_tables() {
  static host_tables tables;
  return tables;
}

} // namespace

std::shared_ptr<entity_handles> entity_handles::of(const caf::actor& host) {
  auto& all = all_tables();
  std::shared_lock<std::shared_mutex> lock{all.mutex};
  auto i = all.tables.find(caf::actor_cast<caf::actor_control_block*>(host));
  return i == all.tables.end() ? nullptr : i->second;
}

void entity_handles::register_host(const caf::actor& host, std::shared_ptr<entity_handles> table) {
  auto& all = all_tables();
  std::unique_lock<std::shared_mutex> lock{all.mutex};
  all.tables[caf::actor_cast<caf::actor_control_block*>(host)] = std::move(table);
}

void entity_handles::forget_host(const caf::actor_addr& host) {
  auto& all = all_tables();
  std::unique_lock<std::shared_mutex> lock{all.mutex};
  all.tables.erase(caf::actor_cast<caf::actor_control_block*>(host));
}

returned_commands::~returned_commands() {
  for (auto& c : commands) {
    if (c.promise.pending()) {
      c.promise.deliver(caf::make_error(caf::sec::request_receiver_down));
    }
  }
}

} // namespace ordermesh::actors::runtime
