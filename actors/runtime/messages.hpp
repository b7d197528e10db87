#pragma once

#include "actors/common/envelope.hpp"
#include "util/fields.hpp"

#include <caf/atom.hpp>
#include <caf/error.hpp>
#include <caf/make_message.hpp>
#include <caf/message.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ordermesh::actors::runtime {

/// Why a command got no decision from its entity. A decision is the aggregate's reply type
/// (e.g. order::order_reply), a rejection a caf::error of the aggregate's errc.
enum class entity_errc : uint8_t {
  nil = 0,
  /// The entity's or the host's queue is full: retry later (HTTP 429/503).
  overloaded,
  /// The envelope's deadline passed before the command was decided; it was not executed.
  deadline_exceeded,
  /// The entity crashed too often and is parked; it takes no commands until unparked.
  parked,
  /// The message is not a command of this entity kind.
  unknown_command,
  /// The journal could not commit (database unavailable); nothing was recorded.
  journal_unavailable,
  /// The journal lost the connection during the commit; the entity re-reads its stream.
  outcome_unknown,
  /// The entity crashed while deciding this command; it was not executed.
  crashed,
  /// The stream holds an event this build cannot decode.
  unreadable_history,
  /// Deciding or encoding this one command failed (e.g. an envelope the journal cannot store);
  /// nothing was recorded for it, the other commands of its batch are unaffected. Retrying the
  /// same command gives the same answer.
  unrecordable_command,
};

inline std::string to_string(entity_errc x) {
  switch (x) {
    case entity_errc::nil:
      return "nil";
    case entity_errc::overloaded:
      return "overloaded";
    case entity_errc::deadline_exceeded:
      return "deadline_exceeded";
    case entity_errc::parked:
      return "parked";
    case entity_errc::unknown_command:
      return "unknown_command";
    case entity_errc::journal_unavailable:
      return "journal_unavailable";
    case entity_errc::outcome_unknown:
      return "outcome_unknown";
    case entity_errc::crashed:
      return "crashed";
    case entity_errc::unreadable_history:
      return "unreadable_history";
    case entity_errc::unrecordable_command:
      return "unrecordable_command";
  }
  return "<unknown entity_errc>";
}

using route_atom = caf::atom_constant<caf::atom("route")>;
using deliver_atom = caf::atom_constant<caf::atom("deliver")>;
using passivate_atom = caf::atom_constant<caf::atom("passivate")>;
using stop_atom = caf::atom_constant<caf::atom("stop")>;
using restart_atom = caf::atom_constant<caf::atom("restart")>;
using entities_atom = caf::atom_constant<caf::atom("entities")>;
using tick_atom = caf::atom_constant<caf::atom("tick")>;
using inspect_atom = caf::atom_constant<caf::atom("inspect")>;
using kill_atom = caf::atom_constant<caf::atom("kill")>;
using wake_atom = caf::atom_constant<caf::atom("wake")>;
/// An entity's answer to its host: (reply_atom, message holding the aggregate's reply), which the
/// host forwards as it is, whatever the aggregate.
using reply_atom = caf::atom_constant<caf::atom("reply")>;
using waiting_atom = caf::atom_constant<caf::atom("waiting")>;
using take_back_atom = caf::atom_constant<caf::atom("take_back")>;

/// A rejection's aggregate error code: `err` is a caf::error of category `Errc` (each
/// aggregate's errors.hpp registers its errc with CAF_ERROR_CODE_ENUM); nullopt for any other
/// error (entity_errc, CAF's own).
template <class Errc>
std::optional<Errc> rejection_code(const caf::error& err) {
  if (!err || err.category() != caf::detail::error_factory<Errc>::category) {
    return std::nullopt;
  }
  return static_cast<Errc>(err.code());
}

/// The reason text an entity gave with an error (its context's string), or "".
inline std::string reason_of(const caf::error& err) {
  const auto& ctx = err.context();
  if (ctx.size() == 1 && ctx.match_element<std::string>(0)) {
    return ctx.get_as<std::string>(0);
  }
  return {};
}

/// One entity as its host sees it.
struct entity_info {
  std::string id;
  /// running, restarting, passivating or parked.
  std::string status;
  uint32_t crashes = 0;
  /// Commands waiting at the entity (its mailbox and its queue), plus those the host keeps for it.
  uint64_t mailbox_depth = 0;
  /// Stream version; -1 when the entity did not answer (restarting, parked, busy past 1 s).
  int64_t version = -1;
};

OM_FIELDS(entity_info, id, status, crashes, mailbox_depth, version)

/// What an entity reports about itself (the console shows it).
struct entity_report {
  std::string id;
  int64_t version = 0;
  /// Commands waiting: in the mailbox and queued behind the append in flight.
  uint64_t mailbox_depth = 0;
  uint64_t commands = 0;
  uint64_t appends = 0;
  /// The aggregate's summary, as text.
  std::string summary;
};

OM_FIELDS(entity_report, id, version, mailbox_depth, commands, appends, summary)

} // namespace ordermesh::actors::runtime

CAF_ERROR_CODE_ENUM(ordermesh::actors::runtime::entity_errc, "entity")
