#include "actors/system.hpp"

#include "actors/inventory/actor.hpp"
#include "actors/notification/actor.hpp"
#include "actors/order/actor.hpp"
#include "actors/order/codec.hpp"
#include "actors/payment/actor.hpp"

#include <caf/all.hpp>

namespace ordermesh::actors {

node_actors start_node_actors(caf::actor_system& sys, const config::app_config& cfg,
                              shard::host_settings settings, order::saga_policy policy) {
  node_actors n;
  n.journal = persistence::spawn_journal(sys, cfg.pg, cfg.journal);
  n.reader = persistence::spawn_reader(sys, cfg.pg, cfg.journal);
  n.psp = payment::spawn_psp_gateway(sys, cfg.psp, 5, 2000);
  n.hosts = std::make_shared<shard::directory>();
  n.hosts->inventory = inventory::spawn_inventory_host(sys, n.journal, n.reader, settings);
  n.hosts->notification = notification::spawn_notification_host(sys, n.journal, n.reader, settings);
  n.hosts->payment = payment::spawn_payment_host(sys, n.journal, n.reader, settings, n.hosts, n.psp,
                                                 cfg.psp.client_timeout);
  n.hosts->order = order::spawn_order_host(sys, n.journal, n.reader, settings, n.hosts, policy);
  return n;
}

caf::expected<size_t> resume_unfinished_orders(caf::actor_system& sys, const node_actors& node) {
  caf::scoped_actor self{sys};
  caf::expected<size_t> result{size_t{0}};
  self->request(node.reader, std::chrono::seconds(60), persistence::unfinished_atom::value,
                std::string{"order/"}, std::string{order::wire::order_placed},
                std::vector<std::string>{order::wire::payment_captured,
                                         order::wire::compensation_completed})
      .receive(
          [&](std::vector<std::string>& streams) {
            for (const auto& stream : streams) {
              self->send(node.hosts->order, shard::wake_atom::value, stream.substr(6));
            }
            result = streams.size();
          },
          [&](caf::error& err) { result = std::move(err); });
  return result;
}

shard::host_settings host_settings_from(const config::entity_config& entity) {
  shard::host_settings s;
  static_cast<config::entity_config&>(s) = entity;
  return s;
}

order::saga_policy saga_policy_from(const config::saga_config& saga) {
  order::saga_policy p;
  p.max_payment_attempts = static_cast<int32_t>(saga.max_payment_attempts);
  p.step_timeout_ms = saga.step_timeout.count();
  p.retry_base_ms = saga.retry_base.count();
  p.retry_max_ms = saga.retry_max.count();
  p.reservation_ttl_ms = saga.reservation_ttl.count();
  return p;
}

node_actors start_node_actors(caf::actor_system& sys, const config::app_config& cfg) {
  return start_node_actors(sys, cfg, host_settings_from(cfg.entity), saga_policy_from(cfg.saga));
}

void node_actors::stop() {
  if (hosts) {
    for (const auto& h : {hosts->order, hosts->payment, hosts->notification, hosts->inventory}) {
      caf::anon_send_exit(h, caf::exit_reason::user_shutdown);
    }
  }
  caf::anon_send_exit(psp, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(reader, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(journal, caf::exit_reason::user_shutdown);
}

} // namespace ordermesh::actors
