#include "core/actor_system.hpp"

#include "core/type_ids.hpp"
#include "persistence/result.hpp"

#include <caf/all.hpp>

#include <algorithm>
#include <thread>

namespace ordermesh::core {

caf::actor_system_config& configure(caf::actor_system_config& cfg) {
  cfg.add_message_types<caf::id_block::ordermesh>();
  cfg.set("scheduler.max-threads", std::max(2u, std::thread::hardware_concurrency()));
  cfg.add_error_category(caf::atom("store"), [](uint8_t code, caf::atom_value,
                                                const caf::message& ctx) {
    auto s = "store_errc::" + persistence::to_string(static_cast<persistence::store_errc>(code));
    return ctx.empty() ? s : s + " " + caf::to_string(ctx);
  });
  cfg.add_error_category(
      caf::atom("entity"), [](uint8_t code, caf::atom_value, const caf::message& ctx) {
        auto s = "entity_errc::" +
                 actors::runtime::to_string(static_cast<actors::runtime::entity_errc>(code));
        return ctx.empty() ? s : s + " " + caf::to_string(ctx);
      });
  return cfg;
}

} // namespace ordermesh::core
