#include "core/actor_system.hpp"

#include "actors/inventory/errors.hpp"
#include "actors/notification/errors.hpp"
#include "actors/order/errors.hpp"
#include "actors/payment/errors.hpp"
#include "core/type_ids.hpp"
#include "persistence/result.hpp"

#include <caf/all.hpp>

#include <algorithm>
#include <string>
#include <thread>

namespace ordermesh::core {

namespace {

/// Registers the renderer of errc enum `Errc` (CAF_ERROR_CODE_ENUM'd with `category`):
/// "<name>::<code> <context>".
template <class Errc>
void add_category(caf::actor_system_config& cfg, const char* name) {
  cfg.add_error_category(caf::detail::error_factory<Errc>::category,
                         [name](uint8_t code, caf::atom_value, const caf::message& ctx) {
                           auto s = std::string{name} + "::" + to_string(static_cast<Errc>(code));
                           return ctx.empty() ? s : s + " " + caf::to_string(ctx);
                         });
}

} // namespace

caf::actor_system_config& configure(caf::actor_system_config& cfg) {
  cfg.add_message_types<caf::id_block::ordermesh>();
  cfg.set("scheduler.max-threads", std::max(2u, std::thread::hardware_concurrency()));
  // One shared queue whose idle workers sleep on a condition variable. The default (stealing)
  // workers poll and sleep 50 us at a time, which on a box shared with PostgreSQL, the journal's
  // and reader's threads cost the order path 15-20% of its node CPU (bench/orders, README).
  cfg.set("scheduler.policy", caf::atom("sharing"));
  // persistence/journal.hpp registers store_errc as "store" (not included here: core includes
  // message headers only).
  cfg.add_error_category(caf::atom("store"), [](uint8_t code, caf::atom_value,
                                                const caf::message& ctx) {
    auto s = "store_errc::" + persistence::to_string(static_cast<persistence::store_errc>(code));
    return ctx.empty() ? s : s + " " + caf::to_string(ctx);
  });
  add_category<actors::runtime::entity_errc>(cfg, "entity_errc");
  // An aggregate's rejection (its errc) crosses nodes and renders the same everywhere.
  add_category<actors::order::order_errc>(cfg, "order_errc");
  add_category<actors::inventory::inventory_errc>(cfg, "inventory_errc");
  add_category<actors::payment::payment_errc>(cfg, "payment_errc");
  add_category<actors::notification::notification_errc>(cfg, "notification_errc");
  return cfg;
}

} // namespace ordermesh::core
