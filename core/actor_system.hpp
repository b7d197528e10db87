#pragma once

#include <caf/fwd.hpp>

namespace ordermesh::core {

/// Prepares a CAF config the way every ordermesh process needs it: the project's message types
/// and the renderers of its error categories. Call once, before constructing the actor_system.
void configure(caf::actor_system_config& cfg);

} // namespace ordermesh::core
