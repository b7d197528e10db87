#include "actors/runtime/host.hpp"

#include "actors/runtime/entity_handles.hpp"
#include "actors/runtime/wakeups.hpp"

#include "observability/log.hpp"
#include "util/exceptions.hpp"

#include <caf/all.hpp>

#include <algorithm>
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <queue>
#include <unordered_map>
#include <vector>

namespace ordermesh::actors::runtime {

namespace {

using clock_type = std::chrono::steady_clock;

enum class entity_status { running, passivating, restarting, parked };

std::string to_string(entity_status x) {
  switch (x) {
    case entity_status::running:
      return "running";
    case entity_status::passivating:
      return "passivating";
    case entity_status::restarting:
      return "restarting";
    case entity_status::parked:
      return "parked";
  }
  return "?";
}

/// The host's deadline sweep is due: (sweep_atom, its number).
using sweep_atom = caf::atom_constant<caf::atom("sweep")>;

/// How much later than the earliest deadline a sweep already on its way may come and still serve
/// it, and the least time between two sweeps a busy host arms: at most this late, a host
/// answers a command at its deadline with one timer event per sweep, not one per command.
constexpr auto sweep_slack = std::chrono::milliseconds(100);

struct kept_command {
  caf::response_promise promise;
  envelope env;
  caf::message command;
  /// Names the command while it is kept, for its deadline (host_state::deadlines).
  uint64_t ticket = 0;
  /// Handed to an incarnation that ended without answering: it may have been recorded.
  bool handed_on = false;
  /// Held for a command an incarnation took straight from its caller and handed back
  /// (take_back_atom): that caller counts it in entity_handles::direct_in_flight until it is
  /// answered, so host_state::taken_back counts it while the host holds it, for the waiting
  /// gauge to leave it out.
  std::shared_ptr<void> counted_by_caller;
};

struct hosted_entity {
  caf::actor handle;
  entity_status status = entity_status::running;
  /// Commands kept while the entity passivates or restarts, replayed to its next incarnation.
  /// New ones are refused beyond max_queue; each is answered at its deadline if still kept.
  std::deque<kept_command> kept;
  /// Commands handed to the current incarnation and not answered yet, by ticket (dispatch
  /// order). When the incarnation ends they go back to `kept`: a killed or crashed entity drops
  /// its queue unanswered, and its callers must not wait for the reply timeout.
  std::map<uint64_t, kept_command> in_flight;
  std::deque<clock_type::time_point> recent_crashes;
  uint32_t crashes = 0;
};

/// When the command behind `ticket` (kept, or handed to the entity `id` and in_flight) is due an
/// answer from the host.
struct deadline {
  caf::actor_clock::time_point due;
  std::string id;
  uint64_t ticket = 0;
  bool kept = false;
  bool operator>(const deadline& other) const { return due > other.due; }
};

struct host_state {
  std::string kind;
  entity_factory factory;
  host_settings settings;
  std::unordered_map<std::string, hosted_entity> entities;
  std::unordered_map<caf::actor_addr, std::string> ids;
  uint64_t next_ticket = 0;
  /// Commands kept by all entities together; new ones are refused beyond max_host_queue.
  size_t kept_total = 0;
  /// Commands handed to entities and not answered yet, all entities together.
  size_t in_flight_total = 0;
  /// The deadlines of the commands kept or in flight, earliest first. One answered meanwhile
  /// stays listed until its time and then finds nothing.
  std::priority_queue<deadline, std::vector<deadline>, std::greater<>> deadlines;
  /// The sweeps on their way.
  wakeups sweeps;
  /// Of the commands kept or in flight, those their callers count
  /// (kept_command::counted_by_caller).
  std::shared_ptr<size_t> taken_back = std::make_shared<size_t>(0);
  /// The running entities, for callers to send to directly.
  std::shared_ptr<entity_handles> handles = std::make_shared<entity_handles>();
};

using host_pointer = caf::stateful_actor<host_state>*;

void dispatch(host_pointer self, const std::string& id, kept_command k);

/// The answer for a kept command whose deadline passed: not executed, unless an ended
/// incarnation had it (then it may have been recorded; retrying with its message id is safe).
caf::error past_deadline(const kept_command& k) {
  if (k.handed_on) {
    return caf::make_error(entity_errc::outcome_unknown,
                           "deadline passed while its entity restarted; it may have been recorded");
  }
  return caf::make_error(entity_errc::deadline_exceeded,
                         "deadline passed while its entity was passivating or restarting");
}

/// Starts entity `id` and hands it what is kept for it. An entity starts at its first message
/// (spawn_entity): one that gets none here is woken, unless `command_follows` (dispatch hands it
/// one right after).
void start_entity(host_pointer self, const std::string& id, bool command_follows = false) {
  auto& st = self->state;
  auto& entry = st.entities[id];
  entry.handle = st.factory(self->system(), id, caf::actor_cast<caf::actor>(self));
  entry.status = entity_status::running;
  st.ids[entry.handle.address()] = id;
  self->monitor(entry.handle);
  auto kept = std::move(entry.kept);
  entry.kept.clear();
  st.kept_total -= kept.size();
  if (kept.empty() && !command_follows) {
    self->send(entry.handle, wake_atom::value);
  }
  for (auto& k : kept) {
    dispatch(self, id, std::move(k));
  }
  // Listed for direct sends only now: what was kept for it reaches it first.
  st.handles->put(id, entry.handle);
}

// The host stays in the reply path (rather than delegating): a command sent to an entity that
// dies before taking it comes back as request_receiver_down and is kept for the next incarnation
// instead of being lost in the window between the crash and its down message.
constexpr auto entity_reply_timeout = std::chrono::minutes(2);

/// After a command's deadline, how long the host still waits for the entity's own answer
/// (deadline_exceeded, or the outcome of an append already in flight).
constexpr auto past_deadline_grace = std::chrono::seconds(1);

/// Makes sure a sweep comes no later than `at` + `late` (one already on its way if it does).
void sweep_by(host_pointer self, caf::actor_clock::time_point at, caf::timespan late) {
  self->state.sweeps.arm_by<sweep_atom>(self, at, late);
}

/// Lists the command behind `ticket` for an answer from the host `in` from now, unless its
/// entity answers first (the sweep then finds nothing).
void watch(host_pointer self, const std::string& id, uint64_t ticket, bool kept, caf::timespan in) {
  auto due = self->clock().now() + in;
  self->state.deadlines.push(deadline{due, id, ticket, kept});
  sweep_by(self, due, sweep_slack);
}

/// How long after now the host answers a command handed to its entity if the entity has not:
/// shortly past the command's deadline, or the reply timeout if that comes earlier; never for a
/// command without a deadline (the entity answers every command it takes or ends, also when the
/// journal does not answer it in time: see append_limit, and then the host takes the command
/// back). One sweep for all of them: a CAF 0.17 request timeout per command is never cancelled,
/// so each one cost a clock-thread event and a late message.
std::optional<caf::timespan> answer_due_in(host_pointer self, const envelope& env) {
  if (env.deadline_us == 0) {
    return std::nullopt;
  }
  auto left = std::chrono::microseconds(
      std::max<int64_t>(env.deadline_us - self->state.settings.now_us(), 0));
  return std::min<caf::timespan>(entity_reply_timeout, left + past_deadline_grace);
}

/// The command behind `ticket` if it is still waiting for its answer (not re-dispatched after
/// its entity went down), removed from in_flight.
std::optional<kept_command> take_in_flight(host_pointer self, const std::string& id,
                                           uint64_t ticket) {
  auto found = self->state.entities.find(id);
  if (found == self->state.entities.end()) {
    return std::nullopt;
  }
  auto& in_flight = found->second.in_flight;
  auto i = in_flight.find(ticket);
  if (i == in_flight.end()) {
    return std::nullopt;
  }
  auto k = std::move(i->second);
  in_flight.erase(i);
  self->state.in_flight_total -= 1;
  return k;
}

/// Keeps `k` for the entity's next incarnation (in front of what waits, for a command taken back
/// from an ended one) until its deadline; one whose deadline has passed is answered now.
void keep(host_pointer self, const std::string& id, hosted_entity& entry, kept_command k,
          bool in_front = false) {
  auto& st = self->state;
  auto now = st.settings.now_us();
  if (k.env.deadline_us != 0 && k.env.deadline_us <= now) {
    k.promise.deliver(past_deadline(k));
    return;
  }
  k.ticket = ++st.next_ticket;
  if (k.env.deadline_us != 0) {
    watch(self, id, k.ticket, true, std::chrono::microseconds(k.env.deadline_us - now));
  }
  if (in_front) {
    entry.kept.push_front(std::move(k));
  } else {
    entry.kept.push_back(std::move(k));
  }
  st.kept_total += 1;
}

/// Answers the command behind `ticket` if it is still kept when its deadline comes.
void expire_kept(host_pointer self, const std::string& id, uint64_t ticket) {
  auto& st = self->state;
  auto found = st.entities.find(id);
  if (found == st.entities.end()) {
    return;
  }
  auto& kept = found->second.kept;
  auto i = std::find_if(kept.begin(), kept.end(),
                        [&](const kept_command& k) { return k.ticket == ticket; });
  if (i == kept.end()) {
    return; // handed on or answered already
  }
  i->promise.deliver(past_deadline(*i));
  kept.erase(i);
  st.kept_total -= 1;
}

/// Answers the command behind `ticket`, handed to the entity `id`, if the entity has not: as a
/// request timeout, the answer the host's request to it gave before (it may still be recorded).
void expire_in_flight(host_pointer self, const std::string& id, uint64_t ticket) {
  if (auto k = take_in_flight(self, id, ticket)) {
    k->promise.deliver(caf::make_error(caf::sec::request_timeout));
  }
}

/// Answers what is due, then makes sure a sweep comes for the next deadline (at least
/// sweep_slack from now: under load, one sweep serves the commands of that stretch).
void sweep(host_pointer self, uint64_t seq) {
  auto& st = self->state;
  st.sweeps.arrived(seq);
  auto now = self->clock().now();
  while (!st.deadlines.empty() && st.deadlines.top().due <= now) {
    auto d = st.deadlines.top();
    st.deadlines.pop();
    if (d.kept) {
      expire_kept(self, d.id, d.ticket);
    } else {
      expire_in_flight(self, d.id, d.ticket);
    }
  }
  if (!st.deadlines.empty()) {
    sweep_by(self, std::max(st.deadlines.top().due, now + sweep_slack), sweep_slack);
  }
}

void dispatch(host_pointer self, const std::string& id, kept_command k) {
  auto& st = self->state;
  auto found = st.entities.find(id);
  if (found == st.entities.end()) {
    try {
      start_entity(self, id, true); // dispatches what is kept, including nothing yet
    } catch (...) {
      // The host ends (its exception handler answers what it keeps); `k` is in none of its lists.
      k.promise.deliver(
          caf::make_error(caf::sec::runtime_error, st.kind + " host failed to start " + id));
      throw;
    }
    found = st.entities.find(id);
  }
  auto& entry = found->second;
  switch (entry.status) {
    case entity_status::running: {
      auto target = entry.handle;
      auto ticket = ++st.next_ticket;
      if (auto due_in = answer_due_in(self, k.env)) {
        watch(self, id, ticket, false, *due_in);
      }
      auto env = k.env;
      auto command = k.command;
      k.handed_on = true;
      entry.in_flight.emplace(ticket, std::move(k));
      st.in_flight_total += 1;
      self->request(target, caf::infinite, deliver_atom::value, std::move(env), std::move(command))
          .then(
              [=](reply_atom, caf::message& reply) {
                if (auto mine = take_in_flight(self, id, ticket)) {
                  mine->promise.deliver(std::move(reply)); // the aggregate's reply, as it is
                }
              },
              [=](caf::error& err) {
                auto mine = take_in_flight(self, id, ticket);
                if (!mine) {
                  return; // re-dispatched when its entity went down
                }
                if (err != caf::sec::request_receiver_down) {
                  mine->promise.deliver(std::move(err));
                  return;
                }
                auto& e = self->state.entities[id];
                if (e.status == entity_status::running && e.handle == target) {
                  // Its down message is still on the way: keep it for the restart.
                  keep(self, id, e, std::move(*mine));
                } else {
                  dispatch(self, id, std::move(*mine));
                }
              });
      break;
    }
    case entity_status::passivating:
    case entity_status::restarting:
      if (!k.handed_on && entry.kept.size() >= st.settings.max_queue) {
        // The same bound as the entity's own queue: a flood while it is down is refused, not
        // held (commands taken back from an ended incarnation were accepted already).
        k.promise.deliver(
            caf::make_error(entity_errc::overloaded, st.kind + "/" + id + " has " +
                                                         std::to_string(entry.kept.size()) +
                                                         " commands waiting for its restart"));
        break;
      }
      keep(self, id, entry, std::move(k));
      break;
    case entity_status::parked:
      k.promise.deliver(caf::make_error(entity_errc::parked, st.kind + "/" + id + " is parked"));
      break;
  }
}

void fail_kept(host_state& st, hosted_entity& entry, const caf::error& err) {
  for (auto& [ticket, k] : entry.in_flight) {
    k.promise.deliver(err);
  }
  st.in_flight_total -= entry.in_flight.size();
  entry.in_flight.clear();
  for (auto& k : entry.kept) {
    k.promise.deliver(err);
  }
  st.kept_total -= entry.kept.size();
  entry.kept.clear();
}

/// Puts what the ended incarnation had not answered in front of what waits for the next one, in
/// the order it was dispatched. Retrying is safe: the next incarnation recovers from the journal
/// and answers a command whose events were committed from its dedupe record.
void take_back_unanswered(host_pointer self, const std::string& id, hosted_entity& entry) {
  for (auto i = entry.in_flight.rbegin(); i != entry.in_flight.rend(); ++i) {
    keep(self, id, entry, std::move(i->second), true);
  }
  self->state.in_flight_total -= entry.in_flight.size();
  entry.in_flight.clear();
}

void on_entity_down(host_pointer self, caf::down_msg& dm) {
  auto& st = self->state;
  auto found = st.ids.find(dm.source);
  if (found == st.ids.end()) {
    return;
  }
  auto id = found->second;
  st.ids.erase(found);
  st.handles->erase(id, dm.source);
  auto& entry = st.entities[id];
  entry.handle = nullptr;
  take_back_unanswered(self, id, entry);
  if (!dm.reason || dm.reason == caf::exit_reason::user_shutdown) {
    // Passivated. Commands that arrived meanwhile wake it up again.
    if (entry.kept.empty()) {
      st.entities.erase(id);
    } else {
      start_entity(self, id);
    }
    return;
  }
  auto now = clock_type::now();
  entry.crashes += 1;
  entry.recent_crashes.push_back(now);
  while (!entry.recent_crashes.empty() &&
         now - entry.recent_crashes.front() > st.settings.crash_window) {
    entry.recent_crashes.pop_front();
  }
  auto in_window = static_cast<uint32_t>(entry.recent_crashes.size());
  if (in_window >= st.settings.max_crashes) {
    entry.status = entity_status::parked;
    observability::log_event(spdlog::level::err, "entity parked",
                             {{"entity", st.kind + "/" + id},
                              {"crashes_in_window", in_window},
                              {"reason", self->system().render(dm.reason)}});
    fail_kept(st, entry, caf::make_error(entity_errc::parked, st.kind + "/" + id + " is parked"));
    return;
  }
  auto backoff = st.settings.restart_backoff * (1 << std::min<uint32_t>(in_window - 1, 10));
  entry.status = entity_status::restarting;
  observability::log_event(spdlog::level::warn, "entity restarting",
                           {{"entity", st.kind + "/" + id},
                            {"crashes_in_window", in_window},
                            {"backoff_ms", backoff.count()},
                            {"reason", self->system().render(dm.reason)}});
  self->delayed_send(self, backoff, restart_atom::value, id);
}

/// Ends every entity of the ending host (with `reason`) and answers what it keeps for them.
void end_entities(host_pointer self, const caf::error& reason) {
  self->state.handles->clear();
  for (auto& [id, entry] : self->state.entities) {
    if (entry.handle) {
      self->send_exit(entry.handle, reason);
    }
    fail_kept(self->state, entry, caf::make_error(caf::sec::request_receiver_down));
  }
}

caf::behavior host_impl(host_pointer self, std::string kind, entity_factory factory,
                        host_settings settings) {
  auto& st = self->state;
  st.kind = std::move(kind);
  st.factory = std::move(factory);
  st.settings = settings;
  entity_handles::register_host(caf::actor_cast<caf::actor>(self), st.handles);
  self->attach_functor([host = self->address()] { entity_handles::forget_host(host); });
  self->set_down_handler([=](caf::down_msg& dm) { on_entity_down(self, dm); });
  self->set_exit_handler([=](caf::exit_msg& em) {
    end_entities(self, em.reason);
    self->quit(em.reason);
  });
  // A host ended by an exception in one of its handlers ends its entities too: one left running
  // (an order with an open saga never passivates) would keep the node from shutting down.
  self->set_exception_handler([](caf::scheduled_actor* ptr, std::exception_ptr& eptr) {
    std::string what = util::what_of(eptr);
    auto reason = caf::make_error(caf::sec::runtime_error, std::move(what));
    end_entities(static_cast<host_pointer>(ptr), reason);
    return reason;
  });
  return {
      [=](route_atom, const std::string& id, envelope& env, caf::message& command) {
        auto& s = self->state;
        auto promise = self->make_response_promise();
        auto waiting = self->mailbox().size() + s.kept_total;
        if (waiting >= s.settings.max_host_queue) {
          promise.deliver(caf::make_error(entity_errc::overloaded, s.kind + " host has " +
                                                                       std::to_string(waiting) +
                                                                       " commands waiting"));
          return promise;
        }
        dispatch(self, id,
                 kept_command{promise, std::move(env), std::move(command), 0, false, nullptr});
        return promise;
      },
      [=](passivate_atom, const std::string& id) {
        auto& s = self->state;
        auto found = s.entities.find(id);
        if (found == s.entities.end() || found->second.status != entity_status::running ||
            self->current_sender() != found->second.handle.address()) {
          return;
        }
        found->second.status = entity_status::passivating;
        s.handles->erase(id, found->second.handle.address());
        self->send(found->second.handle, stop_atom::value);
      },
      [=](stop_atom, const std::string& id) {
        // Passivates the entity now, as if it had asked: it answers what it holds, then stops.
        auto found = self->state.entities.find(id);
        if (found != self->state.entities.end() && found->second.status == entity_status::running &&
            found->second.handle) {
          found->second.status = entity_status::passivating;
          self->state.handles->erase(id, found->second.handle.address());
          self->send(found->second.handle, stop_atom::value);
        }
      },
      [=](sweep_atom, uint64_t seq) { sweep(self, seq); },
      [=](take_back_atom, const std::string& id, returned_commands_ptr& returned) {
        // Taken directly by an incarnation that ended before answering: like the commands the
        // host had handed on itself, they go to the next incarnation (which answers one that was
        // recorded from its dedupe record), or are answered at their deadline.
        auto& commands = returned->commands;
        auto counted_by_caller = [taken_back = self->state.taken_back] {
          ++*taken_back;
          return std::shared_ptr<void>(nullptr, [taken_back](void*) { --*taken_back; });
        };
        auto found = self->state.entities.find(id);
        if (found != self->state.entities.end() &&
            (found->second.status == entity_status::passivating ||
             found->second.status == entity_status::restarting)) {
          // In front of what waits for the next incarnation, in the order they were taken.
          for (auto i = commands.rbegin(); i != commands.rend(); ++i) {
            if (i->promise.pending()) {
              keep(self, id, found->second,
                   kept_command{std::move(i->promise), std::move(i->env), std::move(i->command), 0,
                                true, counted_by_caller()},
                   true);
            }
          }
        } else {
          for (auto& c : commands) {
            if (c.promise.pending()) {
              dispatch(self, id,
                       kept_command{std::move(c.promise), std::move(c.env), std::move(c.command), 0,
                                    true, counted_by_caller()});
            }
          }
        }
        returned->commands.clear();
      },
      [=](restart_atom, const std::string& id) {
        auto found = self->state.entities.find(id);
        if (found != self->state.entities.end() &&
            found->second.status == entity_status::restarting) {
          start_entity(self, id);
        }
      },
      [=](wake_atom, const std::string& id) {
        // Activates the entity (it recovers and resumes whatever its journal says is in progress).
        if (self->state.entities.count(id) == 0) {
          start_entity(self, id);
        }
      },
      [=](kill_atom, const std::string& id) {
        auto found = self->state.entities.find(id);
        if (found != self->state.entities.end() && found->second.handle) {
          self->send_exit(found->second.handle, caf::exit_reason::kill);
        }
      },
      [=](caf::get_atom, waiting_atom) {
        const auto& s = self->state;
        // A command taken back from an entity is counted by its caller (direct_in_flight) and
        // held here too: once.
        auto held = s.kept_total + s.in_flight_total;
        held -= std::min<size_t>(*s.taken_back, held);
        return static_cast<uint64_t>(held + s.handles->direct_in_flight.load());
      },
      [=](caf::get_atom, entities_atom) {
        // Asks every running entity for its report; those that do not answer within a second
        // are listed with what the host knows.
        auto result = std::make_shared<std::vector<entity_info>>();
        auto promise = self->make_response_promise<std::vector<entity_info>>();
        auto waiting = std::make_shared<size_t>(0);
        for (const auto& [id, entry] : self->state.entities) {
          result->push_back(
              entity_info{id, to_string(entry.status), entry.crashes, entry.kept.size(), -1});
          if (entry.handle && entry.status == entity_status::running) {
            ++*waiting;
          }
        }
        if (*waiting == 0) {
          promise.deliver(*result);
          return promise;
        }
        for (size_t i = 0; i < result->size(); ++i) {
          const auto& entry = self->state.entities[(*result)[i].id];
          if (!entry.handle || entry.status != entity_status::running) {
            continue;
          }
          auto answered = [=]() mutable {
            if (--*waiting == 0) {
              promise.deliver(*result);
            }
          };
          self->request(entry.handle, std::chrono::seconds(1), caf::get_atom::value,
                        inspect_atom::value)
              .then(
                  [=](entity_report& report) mutable {
                    (*result)[i].mailbox_depth += report.mailbox_depth;
                    (*result)[i].version = report.version;
                    answered();
                  },
                  [=](caf::error&) mutable { answered(); });
        }
        return promise;
      },
  };
}

} // namespace

caf::actor spawn_host(caf::actor_system& sys, std::string kind, entity_factory factory,
                      host_settings settings) {
  return sys.spawn(host_impl, std::move(kind), std::move(factory), settings);
}

} // namespace ordermesh::actors::runtime
