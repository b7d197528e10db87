#pragma once

#include "actors/runtime/host_settings.hpp"
#include "actors/runtime/messages.hpp"

#include <caf/fwd.hpp>

#include <functional>
#include <string>

namespace ordermesh::actors::runtime {

/// Spawns the entity for an id; the host passes itself as the entity's host.
using entity_factory =
    std::function<caf::actor(caf::actor_system&, const std::string& id, caf::actor host)>;

/// Spawns the host (entity region) of one entity kind. Callers address entities by id only:
///   request(host, t, route_atom, id, envelope, make_message(command))
///     -> the aggregate's reply (e.g. order::order_reply) | error (a rejection: the aggregate's
///        errc; no decision: entity_errc or CAF's)
/// The host activates an entity on its first message (the entity recovers snapshot + events),
/// passivates it when it reports itself idle, and supervises it: an entity that crashes restarts
/// from its events after an exponential back-off, with the commands meant for it kept meanwhile;
/// after max_crashes within crash_window it is parked (logged; its commands answered `parked`).
/// Kept commands (while passivating or restarting) are bounded: beyond max_queue for the entity
/// or max_host_queue for the host a new command is answered `overloaded`; one still kept at its
/// envelope deadline is answered then (`deadline_exceeded`, or `outcome_unknown` if an ended
/// incarnation had it), and never again. A command without a deadline is waited for without a
/// timeout: its entity answers it or ends (and then it goes to the next incarnation).
/// Also: (get_atom, waiting_atom) -> uint64_t, the commands it holds (kept, or handed to an
/// entity and not answered yet), answered from its own bookkeeping (a gauge, read every second);
/// (get_atom, entities_atom) -> std::vector<entity_info>, which asks every running entity; and
/// (kill_atom, id) kills the entity (exit_reason::kill) to watch it restart, (stop_atom, id)
/// passivates it now (it answers what it holds first), and (wake_atom, id) activates an entity so
/// that it recovers and resumes its unfinished work.
caf::actor spawn_host(caf::actor_system& sys, std::string kind, entity_factory factory,
                      host_settings settings);

} // namespace ordermesh::actors::runtime
