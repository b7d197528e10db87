#pragma once

#include "actors/runtime/listeners.hpp"

#include <caf/actor.hpp>

#include <memory>

namespace ordermesh::actors::runtime {

/// Where the entity hosts of one node are: entities address each other by kind and id through
/// these, never by entity handle. Filled once at start (actors/system.cpp), read-only after.
struct directory {
  caf::actor inventory;
  caf::actor order;
  caf::actor payment;
  caf::actor notification;
  /// Told `order::order_completed` by each order whose terminal event became durable.
  std::shared_ptr<listeners> order_completions = std::make_shared<listeners>();
};

using directory_ptr = std::shared_ptr<directory>;

} // namespace ordermesh::actors::runtime
