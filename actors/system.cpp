#include "actors/system.hpp"

#include "actors/inventory/actor.hpp"
#include "actors/notification/actor.hpp"
#include "actors/order/actor.hpp"
#include "actors/order/codec.hpp"
#include "actors/payment/actor.hpp"

#include "observability/log.hpp"

#include <caf/all.hpp>

#include <functional>
#include <optional>
#include <set>
#include <unordered_map>

namespace ordermesh::actors {

namespace {

using namespace std::chrono_literals;
using restart_atom = runtime::restart_atom;
using tick_atom = runtime::tick_atom;

/// Adds `x`'s counters to `sum` (maxima: the larger; `waiting`: x's, the current queue).
void add_stats(persistence::journal_stats& sum, const persistence::journal_stats& x) {
  sum.batches += x.batches;
  sum.appends += x.appends;
  sum.events += x.events;
  sum.conflicts += x.conflicts;
  sum.failed += x.failed;
  sum.commit_us_total += x.commit_us_total;
  sum.largest_batch = std::max(sum.largest_batch, x.largest_batch);
  sum.commit_us_max = std::max(sum.commit_us_max, x.commit_us_max);
  sum.waiting = x.waiting;
}

using released_atom = caf::atom_constant<caf::atom("released")>;
using probe_atom = caf::atom_constant<caf::atom("probe")>;
using give_up_atom = caf::atom_constant<caf::atom("giveup")>;

/// Spawns one incarnation of a component; `health` (nullptr for the PSP gateway) is for its
/// database worker to keep current.
using spawn_function = std::function<caf::actor(std::shared_ptr<persistence::store_health>)>;

/// The supervisor of one core component and the stable handle its users hold.
struct supervisor_state {
  std::string name;
  spawn_function spawn_child;
  /// Where the current incarnation's store_health is published; empty for the PSP gateway.
  std::function<void(std::shared_ptr<const persistence::store_health>)> publish_health;
  /// Answered at once while the child is down.
  caf::error down_error;
  /// Answered to what was in flight at a child that died.
  caf::error lost_error;
  std::atomic<bool>* up = nullptr;
  std::shared_ptr<core_status> status;
  supervision_settings settings;
  /// Where the current incarnation is published for callers that send to it directly; nullptr
  /// if none do.
  std::shared_ptr<runtime::incarnation_slot> published;
  /// The current incarnation; invalid while restarting. Shared with the exit hook, which stops
  /// it when the supervisor stops.
  std::shared_ptr<caf::actor> child = std::make_shared<caf::actor>();
  /// The current incarnation's store_health (nullptr for the PSP gateway).
  std::shared_ptr<persistence::store_health> health;
  uint64_t incarnation = 0;
  /// The last incarnation with a database worker still holds its store_health: it or its worker
  /// has not ended yet (and may still hold a connection in a statement).
  bool lingering = false;
  /// The back-off ran out while the last incarnation lingered: start as soon as it let go.
  bool restart_due = false;
  std::chrono::steady_clock::time_point started;
  std::chrono::milliseconds backoff{0};
  uint64_t next_request = 0;
  std::unordered_map<uint64_t, caf::response_promise> pending;
  /// Journal only: its stats summed over the ended incarnations (as last seen), and the latest
  /// seen of the current one.
  persistence::journal_stats ended_stats;
  persistence::journal_stats current_stats;
  bool probing = false;
  /// Journal only: batches finished at the last probe tick, and since when none finished while
  /// appends waited (a worker stuck in a statement).
  uint64_t batches_at_tick = 0;
  std::optional<std::chrono::steady_clock::time_point> stuck_since;
};

using supervisor_ptr = caf::stateful_actor<supervisor_state>*;

/// Safety net only: callers have their own, shorter timeouts.
constexpr auto forward_timeout = std::chrono::minutes(5);

void start_child(supervisor_ptr self) {
  auto& st = self->state;
  ++st.incarnation;
  std::shared_ptr<persistence::store_health> lent;
  if (st.publish_health) {
    st.health = std::make_shared<persistence::store_health>();
    st.publish_health(st.health);
    // Lent under a count of its own: when the incarnation and its detached worker have both let
    // go of it, both ended (the worker's connection with its state), and the supervisor hears it.
    lent = std::shared_ptr<persistence::store_health>(
        st.health.get(), [keep = st.health, supervisor = self->address(),
                          n = st.incarnation](persistence::store_health*) {
          if (auto s = caf::actor_cast<caf::actor>(supervisor)) {
            caf::anon_send(s, released_atom::value, n);
          }
        });
    st.lingering = true;
  }
  st.restart_due = false;
  st.batches_at_tick = 0;
  st.stuck_since.reset();
  *st.child = st.spawn_child(std::move(lent));
  self->monitor(*st.child);
  if (st.published) {
    st.published->set(*st.child);
  }
  st.started = std::chrono::steady_clock::now();
  st.up->store(true);
}

/// Restart when the back-off ran out: at once if the last incarnation is gone for good, else
/// when it lets go (or after old_worker_wait).
void restart_when_released(supervisor_ptr self) {
  auto& st = self->state;
  if (*st.child) {
    return;
  }
  if (!st.lingering) {
    st.status->restarts++;
    start_child(self);
    return;
  }
  st.restart_due = true;
  observability::log_event(
      spdlog::level::warn, "core component restart waits for its old database worker to end",
      {{"component", st.name}, {"max_wait_ms", st.settings.old_worker_wait.count()}});
  self->delayed_send(self, st.settings.old_worker_wait, give_up_atom::value, st.incarnation);
}

/// The handlers every supervisor has besides its component's interface.
void on_released(supervisor_ptr self, uint64_t n) {
  auto& st = self->state;
  if (n != st.incarnation) {
    return;
  }
  st.lingering = false;
  if (st.restart_due && !*st.child) {
    st.status->restarts++;
    start_child(self);
  }
}

void on_give_up(supervisor_ptr self, uint64_t n) {
  auto& st = self->state;
  if (n != st.incarnation || !st.restart_due || *st.child) {
    return;
  }
  observability::log_event(
      spdlog::level::err, "old database worker still holds its connection; restarting anyway",
      {{"component", st.name}, {"waited_ms", st.settings.old_worker_wait.count()}});
  st.lingering = false;
  st.status->restarts++;
  start_child(self);
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
  // No timeout: the child answers or dies (then the down handler answers lost_error); a CAF 0.17
  // request timeout is never cancelled and costs two clock-thread events per append.
  self->request(*st.child, caf::infinite, std::forward<Ts>(xs)...)
      .then([settle](Reply& reply) mutable { settle(std::move(reply)); },
            [settle](caf::error& err) mutable { settle(std::move(err)); });
  return promise;
}

/// The common part of every supervisor: start, watch, restart with back-off, the exit hook.
void supervise(
    supervisor_ptr self, std::string name, spawn_function spawn_child, caf::error down_error,
    caf::error lost_error, std::atomic<bool>& up, std::shared_ptr<core_status> status,
    supervision_settings settings,
    std::function<void(std::shared_ptr<const persistence::store_health>)> publish_health = nullptr,
    std::shared_ptr<runtime::incarnation_slot> published = nullptr) {
  auto& st = self->state;
  st.published = std::move(published);
  st.name = std::move(name);
  st.spawn_child = std::move(spawn_child);
  st.publish_health = std::move(publish_health);
  st.down_error = std::move(down_error);
  st.lost_error = std::move(lost_error);
  st.up = &up;
  st.status = std::move(status);
  st.settings = settings;
  st.backoff = settings.backoff_min;
  // The child is not linked (its death must not take the supervisor with it): stop it when the
  // supervisor stops.
  self->attach_functor([child = st.child, published = st.published] {
    if (published) {
      published->clear();
    }
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
    if (st.published) {
      st.published->clear();
    }
    st.up->store(false);
    for (auto& [id, promise] : st.pending) {
      promise.deliver(st.lost_error);
    }
    st.pending.clear();
    // Its counters as last seen count for good; the next incarnation starts from zero.
    add_stats(st.ended_stats, st.current_stats);
    st.current_stats = {};
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

/// Asks the journal writer how far it got: when no batch finished for stall_after while appends
/// waited, its worker is stuck (a statement that does not return) and the node status says the
/// journal does not reach the database until a batch finishes again.
void watch_for_a_stall(supervisor_ptr self) {
  const auto asked = self->state.incarnation;
  self->request(*self->state.child, self->state.settings.gauge_interval, caf::get_atom::value,
                persistence::journal_stats_atom::value)
      .then(
          [self, asked](persistence::journal_stats& s) {
            auto& st = self->state;
            if (asked != st.incarnation) {
              return;
            }
            const auto now = std::chrono::steady_clock::now();
            if (s.batches != st.batches_at_tick || s.waiting == 0) {
              st.stuck_since.reset();
            } else if (!st.stuck_since) {
              st.stuck_since = now;
            }
            st.batches_at_tick = s.batches;
            st.status->journal_stalled =
                st.stuck_since.has_value() && now - *st.stuck_since >= st.settings.stall_after;
          },
          [](caf::error&) {});
}

/// The journal writer behind a stable handle (the persistence::journal_actor interface).
caf::behavior journal_supervisor(supervisor_ptr self, spawn_function spawn_child,
                                 std::shared_ptr<core_status> status, supervision_settings settings,
                                 std::shared_ptr<runtime::incarnation_slot> published) {
  auto& up = status->journal;
  auto publish = [status](std::shared_ptr<const persistence::store_health> h) {
    status->publish_journal_health(std::move(h));
  };
  supervise(self, "journal", std::move(spawn_child),
            caf::make_error(persistence::store_errc::unavailable, "the journal writer restarts"),
            caf::make_error(persistence::store_errc::outcome_unknown,
                            "the journal writer died with the append in flight"),
            up, std::move(status), settings, std::move(publish), std::move(published));
  self->send(self, probe_atom::value);
  return {
      [self](persistence::append_atom a, persistence::stream_append& x) {
        return forward<persistence::append_result>(self, a, std::move(x));
      },
      [self](caf::get_atom,
             persistence::journal_stats_atom) -> caf::result<persistence::journal_stats> {
        auto& st = self->state;
        if (!*st.child) {
          return st.ended_stats;
        }
        auto promise = self->make_response_promise<persistence::journal_stats>();
        const auto asked = st.incarnation;
        self->request(*st.child, forward_timeout, caf::get_atom::value,
                      persistence::journal_stats_atom::value)
            .then(
                [self, promise, asked](persistence::journal_stats& s) mutable {
                  auto& st = self->state;
                  if (asked == st.incarnation && *st.child) {
                    st.current_stats = s;
                  }
                  auto total = st.ended_stats;
                  add_stats(total, st.current_stats);
                  promise.deliver(total);
                },
                [promise](caf::error& err) mutable { promise.deliver(std::move(err)); });
        return promise;
      },
      [self](probe_atom) {
        // A writer whose last statement did not reach the database is asked to append where it
        // can only conflict (a version far past any stream's end: nothing is written), so that
        // its health follows the database without waiting for a client's write.
        auto& st = self->state;
        self->delayed_send(self, st.settings.gauge_interval, probe_atom::value);
        if (*st.child) {
          watch_for_a_stall(self);
        }
        if (!*st.child || !st.health || st.health->reachable() || st.probing) {
          return;
        }
        st.probing = true;
        persistence::stream_append probe;
        probe.stream_id = "om-probe/journal";
        probe.expected_version = int64_t{1} << 60;
        persistence::new_event e;
        e.type = "om.probe";
        e.payload = "{}";
        e.metadata = "{}";
        probe.events.push_back(std::move(e));
        self->request(*st.child, st.settings.old_worker_wait, persistence::append_atom::value,
                      std::move(probe))
            .then([self](persistence::append_result&) { self->state.probing = false; },
                  [self](caf::error&) { self->state.probing = false; });
      },
      [self](restart_atom) { restart_when_released(self); },
      [self](released_atom, uint64_t n) { on_released(self, n); },
      [self](give_up_atom, uint64_t n) { on_give_up(self, n); },
      [self](caf::get_atom) { return *self->state.child; },
  };
}

/// The recovery reader behind a stable handle (the persistence::reader_actor interface).
caf::behavior reader_supervisor(supervisor_ptr self, spawn_function spawn_child,
                                std::shared_ptr<core_status> status,
                                supervision_settings settings) {
  auto& up = status->reader;
  auto unavailable = caf::make_error(persistence::store_errc::unavailable, "the reader restarts");
  auto publish = [status](std::shared_ptr<const persistence::store_health> h) {
    status->publish_reader_health(std::move(h));
  };
  supervise(self, "reader", std::move(spawn_child), unavailable, unavailable, up, std::move(status),
            settings, std::move(publish));
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
      [self](restart_atom) { restart_when_released(self); },
      [self](released_atom, uint64_t n) { on_released(self, n); },
      [self](give_up_atom, uint64_t n) { on_give_up(self, n); },
      [self](caf::get_atom) { return *self->state.child; },
  };
}

/// The PSP gateway behind a stable handle (the payment::psp_gateway_actor interface).
caf::behavior psp_supervisor(supervisor_ptr self, spawn_function spawn_child,
                             std::shared_ptr<core_status> status, supervision_settings settings,
                             std::shared_ptr<runtime::incarnation_slot> published) {
  auto& up = status->psp;
  auto gone = caf::make_error(caf::sec::request_receiver_down, "the PSP gateway restarts");
  supervise(self, "psp", std::move(spawn_child), gone, gone, up, std::move(status), settings,
            nullptr, std::move(published));
  return {
      [self](payment::psp_call_atom a, payment::psp_request& r) {
        return forward<payment::psp_reply>(self, a, std::move(r));
      },
      [self](caf::get_atom g, payment::breaker_atom b) {
        return forward<payment::breaker_report>(self, g, b);
      },
      [self](restart_atom) { restart_when_released(self); },
      [self](caf::get_atom) { return *self->state.child; },
  };
}

struct gauge_poller_state {
  std::shared_ptr<node_gauges> gauges;
};

/// Refreshes node_gauges every `interval`: one round of requests at a time, each bounded by the
/// interval, so that the cost does not depend on how often /metrics is scraped.
caf::behavior gauge_poller(caf::stateful_actor<gauge_poller_state>* self,
                           persistence::journal_actor journal, runtime::directory_ptr hosts,
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
              // Summed over every incarnation by the journal's supervisor: never falls.
              auto& g = *self->state.gauges;
              g.journal_batches = s.batches;
              g.journal_events = s.events;
              g.journal_conflicts = s.conflicts;
              g.journal_failed = s.failed;
              g.journal_commit_us = s.commit_us_total;
              g.journal_largest_batch = s.largest_batch;
              answered();
            },
            [=](caf::error&) { answered(); });
    const std::pair<caf::actor, std::atomic<uint64_t>*> kinds[] = {
        {hosts->order, &self->state.gauges->mailbox_order},
        {hosts->inventory, &self->state.gauges->mailbox_inventory},
        {hosts->payment, &self->state.gauges->mailbox_payment},
        {hosts->notification, &self->state.gauges->mailbox_notification}};
    for (const auto& [host, depth] : kinds) {
      // From the host's bookkeeping: asking each active entity (thousands under load, each
      // order's stay 30 s) cost a message, a reply and a timer per entity and second.
      self->request(host, interval, caf::get_atom::value, runtime::waiting_atom::value)
          .then(
              [=, depth = depth](uint64_t waiting) {
                depth->store(waiting);
                answered();
              },
              [=](caf::error&) { answered(); });
    }
  }};
}

/// Watches the entity hosts. A host answers every command it takes or ends, and callers wait
/// for it without a timeout (entity routes, host-to-entity commands); nothing restarts it with
/// what it held, so a host that ends is reported (core_status::hosts, readiness) for the node to
/// stop.
caf::behavior host_watch(caf::event_based_actor* self, runtime::directory_ptr hosts,
                         std::shared_ptr<core_status> status) {
  auto kinds = std::make_shared<std::unordered_map<caf::actor_addr, std::string>>();
  const std::pair<caf::actor, const char*> watched[] = {{hosts->order, "order"},
                                                        {hosts->inventory, "inventory"},
                                                        {hosts->payment, "payment"},
                                                        {hosts->notification, "notification"}};
  for (const auto& [host, kind] : watched) {
    kinds->emplace(host.address(), kind);
    self->monitor(host);
  }
  self->set_down_handler([self, kinds, status](caf::down_msg& dm) {
    status->hosts = false;
    observability::log_event(
        spdlog::level::err, "entity host ended: the node must stop",
        {{"host", (*kinds)[dm.source]}, {"reason", self->system().render(dm.reason)}});
  });
  return {[](caf::get_atom) { return true; }};
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
  if (!hosts) {
    out.emplace_back("hosts");
  }
  return out;
}

std::shared_ptr<const persistence::store_health> core_status::journal_health() const {
  return std::atomic_load(&journal_health_);
}

std::shared_ptr<const persistence::store_health> core_status::reader_health() const {
  return std::atomic_load(&reader_health_);
}

void core_status::publish_journal_health(std::shared_ptr<const persistence::store_health> h) {
  std::atomic_store(&journal_health_, std::move(h));
}

void core_status::publish_reader_health(std::shared_ptr<const persistence::store_health> h) {
  std::atomic_store(&reader_health_, std::move(h));
}

std::vector<std::string> core_status::unreachable() const {
  std::vector<std::string> out;
  if (auto h = journal_health(); journal && ((h && !h->reachable()) || journal_stalled)) {
    out.emplace_back("journal");
  }
  if (auto h = reader_health(); reader && h && !h->reachable()) {
    out.emplace_back("reader");
  }
  return out;
}

node_actors start_node_actors(caf::actor_system& sys, const config::app_config& cfg,
                              runtime::host_settings settings, order::saga_policy policy,
                              supervision_settings supervision) {
  node_actors n;
  n.journal = caf::actor_cast<persistence::journal_actor>(sys.spawn(
      journal_supervisor,
      [&sys, pg = cfg.pg, journal = cfg.journal](std::shared_ptr<persistence::store_health> h) {
        return caf::actor_cast<caf::actor>(
            persistence::spawn_journal(sys, pg, journal, std::move(h)));
      },
      n.status, supervision, n.journal_now));
  n.reader = caf::actor_cast<persistence::reader_actor>(sys.spawn(
      reader_supervisor,
      [&sys, pg = cfg.pg, journal = cfg.journal](std::shared_ptr<persistence::store_health> h) {
        return caf::actor_cast<caf::actor>(
            persistence::spawn_reader(sys, pg, journal, std::move(h)));
      },
      n.status, supervision));
  n.psp = caf::actor_cast<payment::psp_gateway_actor>(sys.spawn(
      psp_supervisor,
      [&sys, psp = cfg.psp](std::shared_ptr<persistence::store_health>) {
        return caf::actor_cast<caf::actor>(payment::spawn_psp_gateway(sys, psp, 5, 2000));
      },
      n.status, supervision, n.psp_now));
  n.hosts = std::make_shared<runtime::directory>();
  const runtime::supervised<persistence::journal_actor> appends{n.journal, n.journal_now};
  n.hosts->inventory = inventory::spawn_inventory_host(sys, appends, n.reader, settings);
  n.hosts->notification = notification::spawn_notification_host(sys, appends, n.reader, settings);
  n.hosts->payment = payment::spawn_payment_host(
      sys, appends, n.reader, settings, n.hosts,
      runtime::supervised<payment::psp_gateway_actor>{n.psp, n.psp_now}, cfg.psp.client_timeout);
  n.hosts->order = order::spawn_order_host(sys, appends, n.reader, settings, n.hosts, policy);
  n.status->hosts = true; // before the watch: a host that ends even now is reported
  n.host_watch = sys.spawn(host_watch, n.hosts, n.status);
  n.gauge_poller =
      sys.spawn(gauge_poller, n.journal, n.hosts, n.gauges, supervision.gauge_interval);
  n.settlement = std::make_shared<settlement_runner>(sys, cfg.pg, cfg.journal, n.hosts->inventory,
                                                     n.hosts->notification,
                                                     settlement_settings_from(cfg.settlement));
  return n;
}

caf::expected<size_t> resume_unfinished_orders(caf::actor_system& sys, const node_actors& node) {
  caf::scoped_actor self{sys};
  std::set<std::string> woken;
  std::optional<caf::error> failed;
  // Each query's orders are woken (in log order) before the next runs, so that one failing costs
  // only its own.
  auto unfinished = [&](const std::string& started, std::vector<std::string> finished) {
    self->request(node.reader, std::chrono::seconds(60), persistence::unfinished_atom::value,
                  std::string{"order/"}, started, std::move(finished))
        .receive(
            [&](std::vector<std::string>& found) {
              for (const auto& stream : found) {
                if (woken.insert(stream).second) {
                  self->send(node.hosts->order, runtime::wake_atom::value, stream.substr(6));
                }
              }
            },
            [&](caf::error& err) { failed = std::move(err); });
  };
  // A sale confirmed naming its SKUs straight from placed ends at its confirmation (the
  // settlement runner settles and notifies it).
  unfinished(order::wire::order_placed,
             {order::wire::payment_captured, order::wire::compensation_completed,
              std::string{order::wire::order_confirmed} + "?skus"});
  // One confirmed after a recorded sale request ends once its own notification answered
  // (order_state::notifies_itself): the binary before this one may have left it unnotified,
  // behind its settlement runner's checkpoint.
  unfinished(order::wire::sale_requested,
             {order::wire::payment_captured, order::wire::compensation_completed});
  if (failed) {
    return std::move(*failed);
  }
  return woken.size();
}

runtime::host_settings host_settings_from(const config::entity_config& entity) {
  runtime::host_settings s;
  s.idle_timeout = entity.idle_timeout;
  s.tick_interval = entity.tick_interval;
  s.max_queue = entity.max_queue;
  s.max_host_queue = entity.max_host_queue;
  s.max_batch = entity.max_batch;
  s.snapshot_every = entity.snapshot_every;
  s.restart_backoff = entity.restart_backoff;
  s.max_crashes = entity.max_crashes;
  s.crash_window = entity.crash_window;
  return s;
}

settlement_settings settlement_settings_from(const config::settlement_config& settlement) {
  settlement_settings s;
  s.interval = settlement.interval;
  return s;
}

order::saga_policy saga_policy_from(const config::saga_config& saga) {
  order::saga_policy p;
  p.max_payment_attempts = static_cast<int32_t>(saga.max_payment_attempts);
  p.max_commit_rounds = static_cast<int32_t>(saga.max_commit_rounds);
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
  if (settlement) {
    settlement->stop(); // before the hosts: it waits for their answers
  }
  caf::anon_send_exit(gauge_poller, caf::exit_reason::user_shutdown);
  // Ends before the hosts' down messages reach it (its mailbox is in order): a stop is no loss.
  caf::anon_send_exit(host_watch, caf::exit_reason::user_shutdown);
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
