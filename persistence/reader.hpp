#pragma once

#include "config/config.hpp"
#include "persistence/event.hpp"
#include "persistence/store_health.hpp"

#include <caf/atom.hpp>
#include <caf/fwd.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include <memory>

namespace ordermesh::persistence {

using recover_atom = caf::atom_constant<caf::atom("recover")>;
using snapshot_atom = caf::atom_constant<caf::atom("snapshot")>;
using unfinished_atom = caf::atom_constant<caf::atom("unfinished")>;
using events_after_atom = caf::atom_constant<caf::atom("evafter")>;

/// Reads streams for entity recovery and stores snapshots, off the cooperative scheduler.
/// - recover: the stream's latest snapshot and every later event, or a store_errc error.
/// - events_after (stream, version): the stream's events after `version`, without a snapshot (how
///   an entity that may share its stream with another writer brings its copy up to date).
/// - unfinished: pg_event_store::unfinished_streams(prefix, started_type, finished_types).
/// - snapshot: stores it unless a newer one exists; fire-and-forget (failures are logged).
using reader_actor =
    caf::typed_actor<caf::replies_to<recover_atom, std::string>::with<stream_history>,
                     caf::replies_to<events_after_atom, std::string, int64_t>::with<stream_history>,
                     caf::replies_to<unfinished_atom, std::string, std::string,
                                     std::vector<std::string>>::with<std::vector<std::string>>,
                     caf::reacts_to<snapshot_atom, snapshot>>;

/// Spawns a reader owning journal.readers connections (each a detached actor on its own OS
/// thread, linked to it), each taken by one request at a time, the longest idle first; requests
/// wait in arrival order for a free one. `health`, if given, is kept current by the connections
/// (store_health) and says running() == false once the reader ended.
reader_actor spawn_reader(caf::actor_system& sys, const config::pg_config& pg,
                          const config::journal_config& journal,
                          std::shared_ptr<store_health> health = nullptr);

} // namespace ordermesh::persistence
