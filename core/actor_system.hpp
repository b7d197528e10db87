#pragma once

#include <caf/fwd.hpp>

namespace ordermesh::core {

/// Prepares a CAF config the way every ordermesh process needs it: the project's message types,
/// the renderers of its error categories, and one scheduler thread per core (blocking work runs in
/// detached actors, caf-0.17.md §7). Call once, before constructing the actor_system.
caf::actor_system_config& configure(caf::actor_system_config& cfg);

} // namespace ordermesh::core
