#include "actors/system.hpp"

#include "actors/inventory/actor.hpp"
#include "actors/notification/actor.hpp"
#include "actors/order/actor.hpp"
#include "actors/order/codec.hpp"
#include "actors/payment/actor.hpp"

#include "observability/log.hpp"

#include <caf/all.hpp>

#include <functional>
#include <unordered_map>

namespace ordermesh::actors {

namespace {

using namespace std::chrono_literals;
using restart_atom = shard::restart_atom;
using tick_atom = shard::tick_atom;

/// The supervisor of one core component and the stable handle its users hold.
struct supervisor_state {
  std::string name;
  std::function<caf::actor()> spawn_child;
  /// Answered at once while the child is down.
  caf::error down_error;
  /// Answered to what was in flight at a child that died.
  caf::error lost_error;
  std::atomic<bool>* up = nullptr;
  std::shared_ptr<core_status> status;
  supervision_settings settings;
  /// The current incarnation; invalid while restarting. Shared with the exit hook, which stops
  /// it when the supervisor stops.
  std::shared_ptr<caf::actor> child = std::make_shared<caf::actor>();
  std::chrono::steady_clock::time_point started;
  std::chrono::milliseconds backoff{0};
  uint64_t next_request = 0;
  std::unordered_map<uint64_t, caf::response_promise> pending;
};

using supervisor_ptr = caf::stateful_actor<supervisor_state>*;

/// Safety net only: callers have their own, shorter timeouts.
constexpr auto forward_timeout = std::chrono::minutes(5);

void start_child(supervisor_ptr self) {
  auto& st = self->state;
  *st.child = st.spawn_child();
  self->monitor(*st.child);
  st.started = std::chrono::steady_clock::now();
  st.up->store(true);
}

/// Forwards the current request to the child and answers it with the child's reply, or with
/// lost_error if the child dies first.
template <class Reply, class... Ts>
caf::result<Reply> forward(supervisor_ptr self, Ts&&... xs) {
  auto& st = self->state;
  if (!*st.child) {
    return st.down_error;
  }
  auto promise = self->make_response_promise();
  const auto id = ++st.next_request;
  st.pending.emplace(id, promise);
  auto settle = [self, id](auto&& answer) {
    auto it = self->state.pending.find(id);
    if (it != self->state.pending.end()) {
      it->second.deliver(std::forward<decltype(answer)>(answer));
      self->state.pending.erase(it);
    }
  };
  self->request(*st.child, forward_timeout, std::forward<Ts>(xs)...)
      .then([settle](Reply& reply) mutable { settle(std::move(reply)); },
            [settle](caf::error& err) mutable { settle(std::move(err)); });
  return promise;
}

/// The common part of every supervisor: start, watch, restart with back-off, the exit hook.
void supervise(supervisor_ptr self, std::string name, std::function<caf::actor()> spawn_child,
               caf::error down_error, caf::error lost_error, std::atomic<bool>& up,
               std::shared_ptr<core_status> status, supervision_settings settings) {
  auto& st = self->state;
  st.name = std::move(name);
  st.spawn_child = std::move(spawn_child);
  st.down_error = std::move(down_error);
  st.lost_error = std::move(lost_error);
  st.up = &up;
  st.status = std::move(status);
  st.settings = settings;
  st.backoff = settings.backoff_min;
  // The child is not linked (its death must not take the supervisor with it): stop it when the
  // supervisor stops.
  self->attach_functor([child = st.child] {
    if (*child) {
      caf::anon_send_exit(*child, caf::exit_reason::user_shutdown);
    }
  });
  self->set_down_handler([self](caf::down_msg& dm) {
    auto& st = self->state;
    if (!*st.child || dm.source != st.child->address()) {
      return;
    }
    *st.child = nullptr;
    st.up->store(false);
    for (auto& [id, promise] : st.pending) {
      promise.deliver(st.lost_error);
    }
    st.pending.clear();
    const auto now = std::chrono::steady_clock::now();
    if (now - st.started > 2 * st.settings.backoff_max) {
      st.backoff = st.settings.backoff_min; // it ran well for a while: a fresh failure
    }
    observability::log_event(spdlog::level::err, "core component died; restarting",
                             {{"component", st.name},
                              {"reason", self->system().render(dm.reason)},
                              {"backoff_ms", st.backoff.count()}});
    self->delayed_send(self, st.backoff, restart_atom::value);
    st.backoff = std::min(st.backoff * 2, st.settings.backoff_max);
  });
  start_child(self);
}

/// The journal writer behind a stable handle (the persistence::journal_actor interface).
caf::behavior journal_supervisor(supervisor_ptr self, std::function<caf::actor()> spawn_child,
                                 std::shared_ptr<core_status> status,
                                 supervision_settings settings) {
  auto& up = status->journal;
  supervise(self, "journal", std::move(spawn_child),
            caf::make_error(persistence::store_errc::unavailable, "the journal writer restarts"),
            caf::make_error(persistence::store_errc::outcome_unknown,
                            "the journal writer died with the append in flight"),
            up, std::move(status), settings);
  return {
      [self](persistence::append_atom a, persistence::stream_append& x) {
        return forward<persistence::append_result>(self, a, std::move(x));
      },
      [self](caf::get_atom g, persistence::journal_stats_atom j) {
        return forward<persistence::journal_stats>(self, g, j);
      },
      [self](restart_atom) {
        self->state.status->restarts++;
        start_child(self);
      },
      [self](caf::get_atom) { return *self->state.child; },
  };
}

/// The recovery reader behind a stable handle (the persistence::reader_actor interface).
caf::behavior reader_supervisor(supervisor_ptr self, std::function<caf::actor()> spawn_child,
                                std::shared_ptr<core_status> status,
                                supervision_settings settings) {
  auto& up = status->reader;
  auto unavailable = caf::make_error(persistence::store_errc::unavailable, "the reader restarts");
  supervise(self, "reader", std::move(spawn_child), unavailable, unavailable, up, std::move(status),
            settings);
  return {
      [self](persistence::recover_atom a, std::string& stream) {
        return forward<persistence::stream_history>(self, a, std::move(stream));
      },
      [self](persistence::events_after_atom a, std::string& stream, int64_t version) {
        return forward<persistence::stream_history>(self, a, std::move(stream), version);
      },
      [self](persistence::unfinished_atom a, std::string& prefix, std::string& started,
             std::vector<std::string>& finished) {
        return forward<std::vector<std::string>>(self, a, std::move(prefix), std::move(started),
                                                 std::move(finished));
      },
      [self](persistence::snapshot_atom a, persistence::snapshot& x) {
        if (*self->state.child) {
          self->send(*self->state.child, a, std::move(x)); // best effort, like the reader's own
        }
      },
      [self](restart_atom) {
        self->state.status->restarts++;
        start_child(self);
      },
      [self](caf::get_atom) { return *self->state.child; },
  };
}

/// The PSP gateway behind a stable handle (the payment::psp_gateway_actor interface).
caf::behavior psp_supervisor(supervisor_ptr self, std::function<caf::actor()> spawn_child,
                             std::shared_ptr<core_status> status, supervision_settings settings) {
  auto& up = status->psp;
  auto gone = caf::make_error(caf::sec::request_receiver_down, "the PSP gateway restarts");
  supervise(self, "psp", std::move(spawn_child), gone, gone, up, std::move(status), settings);
  return {
      [self](payment::psp_call_atom a, payment::psp_request& r) {
        return forward<payment::psp_reply>(self, a, std::move(r));
      },
      [self](caf::get_atom g, payment::breaker_atom b) {
        return forward<payment::breaker_report>(self, g, b);
      },
      [self](restart_atom) {
        self->state.status->restarts++;
        start_child(self);
      },
      [self](caf::get_atom) { return *self->state.child; },
  };
}

struct gauge_poller_state {
  std::shared_ptr<node_gauges> gauges;
  persistence::journal_stats last;    // of the current journal incarnation
  persistence::journal_stats earlier; // summed over the incarnations before it
};

/// Refreshes node_gauges every `interval`: one round of requests at a time, each bounded by the
/// interval, so that the cost does not depend on how often /metrics is scraped.
caf::behavior gauge_poller(caf::stateful_actor<gauge_poller_state>* self,
                           persistence::journal_actor journal, shard::directory_ptr hosts,
                           std::shared_ptr<node_gauges> gauges,
                           std::chrono::milliseconds interval) {
  self->state.gauges = std::move(gauges);
  self->send(self, tick_atom::value);
  return {[=](tick_atom) {
    auto outstanding = std::make_shared<int>(5);
    auto answered = [=] {
      if (--*outstanding == 0) {
        self->delayed_send(self, interval, tick_atom::value);
      }
    };
    self->request(journal, interval, caf::get_atom::value, persistence::journal_stats_atom::value)
        .then(
            [=](persistence::journal_stats& s) {
              auto& st = self->state;
              if (s.batches < st.last.batches || s.appends < st.last.appends) {
                // A new incarnation started counting from zero.
                st.earlier.batches += st.last.batches;
                st.earlier.events += st.last.events;
                st.earlier.conflicts += st.last.conflicts;
                st.earlier.failed += st.last.failed;
                st.earlier.commit_us_total += st.last.commit_us_total;
              }
              st.last = s;
              auto& g = *st.gauges;
              g.journal_batches = st.earlier.batches + s.batches;
              g.journal_events = st.earlier.events + s.events;
              g.journal_conflicts = st.earlier.conflicts + s.conflicts;
              g.journal_failed = st.earlier.failed + s.failed;
              g.journal_commit_us = st.earlier.commit_us_total + s.commit_us_total;
              g.journal_largest_batch =
                  std::max<uint64_t>(g.journal_largest_batch.load(), s.largest_batch);
              answered();
            },
            [=](caf::error&) { answered(); });
    const std::pair<caf::actor, std::atomic<uint64_t>*> kinds[] = {
        {hosts->order, &self->state.gauges->mailbox_order},
        {hosts->inventory, &self->state.gauges->mailbox_inventory},
        {hosts->payment, &self->state.gauges->mailbox_payment},
        {hosts->notification, &self->state.gauges->mailbox_notification}};
    for (const auto& [host, depth] : kinds) {
      self->request(host, std::max(interval, std::chrono::milliseconds{1500}), caf::get_atom::value,
                    shard::entities_atom::value)
          .then(
              [=, depth = depth](std::vector<shard::entity_info>& entities) {
                uint64_t sum = 0;
                for (const auto& e : entities) {
                  sum += e.mailbox_depth;
                }
                depth->store(sum);
                answered();
              },
              [=](caf::error&) { answered(); });
    }
  }};
}

} // namespace

std::vector<std::string> core_status::down() const {
  std::vector<std::string> out;
  if (!journal) {
    out.emplace_back("journal");
  }
  if (!reader) {
    out.emplace_back("reader");
  }
  if (!psp) {
    out.emplace_back("psp");
  }
  return out;
}

node_actors start_node_actors(caf::actor_system& sys, const config::app_config& cfg,
                              shard::host_settings settings, order::saga_policy policy,
                              supervision_settings supervision) {
  node_actors n;
  n.journal = caf::actor_cast<persistence::journal_actor>(sys.spawn(
      journal_supervisor,
      [&sys, pg = cfg.pg, journal = cfg.journal] {
        return caf::actor_cast<caf::actor>(persistence::spawn_journal(sys, pg, journal));
      },
      n.status, supervision));
  n.reader = caf::actor_cast<persistence::reader_actor>(sys.spawn(
      reader_supervisor,
      [&sys, pg = cfg.pg, journal = cfg.journal] {
        return caf::actor_cast<caf::actor>(persistence::spawn_reader(sys, pg, journal));
      },
      n.status, supervision));
  n.psp = caf::actor_cast<payment::psp_gateway_actor>(sys.spawn(
      psp_supervisor,
      [&sys, psp = cfg.psp] {
        return caf::actor_cast<caf::actor>(payment::spawn_psp_gateway(sys, psp, 5, 2000));
      },
      n.status, supervision));
  n.hosts = std::make_shared<shard::directory>();
  n.hosts->inventory = inventory::spawn_inventory_host(sys, n.journal, n.reader, settings);
  n.hosts->notification = notification::spawn_notification_host(sys, n.journal, n.reader, settings);
  n.hosts->payment = payment::spawn_payment_host(sys, n.journal, n.reader, settings, n.hosts, n.psp,
                                                 cfg.psp.client_timeout);
  n.hosts->order = order::spawn_order_host(sys, n.journal, n.reader, settings, n.hosts, policy);
  n.gauge_poller =
      sys.spawn(gauge_poller, n.journal, n.hosts, n.gauges, supervision.gauge_interval);
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
  caf::anon_send_exit(gauge_poller, caf::exit_reason::user_shutdown);
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
