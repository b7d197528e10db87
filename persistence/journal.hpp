#pragma once

#include "config/config.hpp"
#include "persistence/event.hpp"
#include "persistence/messages.hpp"
#include "persistence/result.hpp"
#include "persistence/store_health.hpp"

#include <caf/atom.hpp>
#include <caf/error.hpp>
#include <caf/fwd.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include <cstdint>
#include <memory>
#include <vector>

CAF_ERROR_CODE_ENUM(ordermesh::persistence::store_errc, "store")

namespace ordermesh::persistence {

using append_atom = caf::atom_constant<caf::atom("append")>;
using journal_stats_atom = caf::atom_constant<caf::atom("jstats")>;

/// The journal writer: takes appends from many streams and commits them in batches.
/// - append: replies with append_result (committed or version_conflict) only after the commit, or
///   with a store_errc error: invalid_request (invalid_append: refused at once), overloaded
///   (journal.max_pending appends already wait), unavailable or rejected (nothing written; a
///   rejected append fails alone, the rest of its batch commits), outcome_unknown (the commit may
///   have happened).
/// - stats: a journal_stats.
using journal_actor =
    caf::typed_actor<caf::replies_to<append_atom, stream_append>::with<append_result>,
                     caf::replies_to<caf::get_atom, journal_stats_atom>::with<journal_stats>>;

/// Spawns the journal writer (a scheduled actor: it only batches and answers) and journal.writers
/// detached database workers (one connection and one OS thread each, named om.journal). Each worker
/// has at most one batch in flight; a lone append is sent at once, and appends arriving meanwhile
/// are spread over the idle workers (each batch at most max_batch). A stream has at most one append
/// in flight across all workers: its next append waits for the outcome, so a stream's appends
/// commit in order. A commit not answered within journal.commit_timeout (checked every eighth of
/// it, by one timer for all commits in flight: given up on at most 1.125 x commit_timeout after it
/// was sent) is answered outcome_unknown, and its worker (perhaps still blocked in the statement)
/// gets no other batch until it answered; an append that no worker took within commit_timeout
/// (every worker blocked) is answered unavailable by the same timer, and so is every append still
/// waiting when the journal ends (those in flight then: outcome_unknown): every append is
/// answered within about 2.25 x commit_timeout (a wait for a writer, then its commit). Idle workers are taken longest idle first. The
/// database schema must already be migrated. `health`, if given, is kept current by the workers
/// (store_health): readiness can read it without a message to the journal, and it says running() ==
/// false once the journal ended.
journal_actor spawn_journal(caf::actor_system& sys, const config::pg_config& pg,
                            const config::journal_config& journal,
                            std::shared_ptr<store_health> health = nullptr);

} // namespace ordermesh::persistence
