#pragma once

// The generic event-sourced entity actor: plumbing around an aggregate's pure decide/apply.
// Instantiated once per aggregate in its actor.cpp (this header pulls in CAF: keep it out of the
// pure cores).

#include "actors/common/envelope.hpp"
#include "actors/common/outcome.hpp"
#include "actors/runtime/entity_traits.hpp"
#include "actors/runtime/event_metadata.hpp"
#include "actors/runtime/host_settings.hpp"
#include "actors/runtime/messages.hpp"
#include "actors/runtime/routing.hpp"
#include "actors/runtime/supervised.hpp"
#include "actors/runtime/wakeups.hpp"
#include "observability/log.hpp"
#include "persistence/journal.hpp"
#include "persistence/reader.hpp"
#include "util/exceptions.hpp"
#include "util/fail_point.hpp"

#include <caf/all.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <random>
#include <type_traits>
#include <unordered_map>
#include <vector>

namespace ordermesh::actors::runtime {

/// Unix microseconds now (the only clock the entity reads; decide gets it in decide_context).
inline int64_t unix_now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

/// A uniform draw in [0, 1) for decide_context::jitter, from one generator per thread: seeding
/// one per entity read std::random_device for every entity started.
inline double draw_jitter() {
  thread_local std::minstd_rand generator{std::random_device{}()};
  return std::uniform_real_distribution<double>{0.0, 1.0}(generator);
}

/// JSON text of `j`; bytes that are not valid UTF-8 (anything a client put in an envelope or a
/// string field) become U+FFFD instead of throwing.
inline std::string dump_lenient(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

namespace detail {

template <class Variant, class... Alternatives>
std::optional<Variant> first_match(const caf::message& msg, std::variant<Alternatives...>*) {
  std::optional<Variant> out;
  auto take = [&](auto* alternative) {
    using type = std::remove_pointer_t<decltype(alternative)>;
    if (!out && msg.match_elements<type>()) {
      out = msg.get_as<type>(0);
    }
  };
  (take(static_cast<Alternatives*>(nullptr)), ...);
  return out;
}

/// Whether traits `T` have `effects(after, command, ctx)`: actions an accepted command causes
/// besides its events' reactions (a call whose idempotency key makes it safe to send again, so
/// that nothing needs recording before it).
template <class T, class = void>
struct has_effects : std::false_type {};

template <class T>
struct has_effects<T, std::void_t<decltype(std::declval<const T&>().effects(
                          std::declval<const typename T::state_type&>(),
                          std::declval<const typename T::command_type&>(),
                          std::declval<const decide_context&>()))>> : std::true_type {};

/// Whether reply type `R` has the optional `bool repeated` member (entity_traits.hpp).
template <class R, class = void>
struct has_repeated_flag : std::false_type {};

template <class R>
struct has_repeated_flag<R, std::void_t<decltype(std::declval<R&>().repeated = true)>>
    : std::true_type {};

/// Whether `Traits` has the optional `committed(self, before, after)` hook (entity_traits.hpp).
template <class Traits, class = void>
struct has_committed_hook : std::false_type {};

template <class Traits>
struct has_committed_hook<Traits, std::void_t<decltype(std::declval<const Traits&>().committed(
                                      std::declval<caf::event_based_actor*>(),
                                      std::declval<const typename Traits::state_type&>(),
                                      std::declval<const typename Traits::state_type&>()))>>
    : std::true_type {};

/// Whether `Traits` has the optional `starts_stream(command)` (entity_traits.hpp).
template <class Traits, class = void>
struct has_starts_stream : std::false_type {};

template <class Traits>
struct has_starts_stream<Traits, std::void_t<decltype(std::declval<const Traits&>().starts_stream(
                                     std::declval<const typename Traits::command_type&>()))>>
    : std::true_type {};

/// Whether `Traits` has the optional `acts_on_assumed_copy(command)` (entity_traits.hpp).
template <class Traits, class = void>
struct has_acts_on_assumed_copy : std::false_type {};

template <class Traits>
struct has_acts_on_assumed_copy<
    Traits, std::void_t<decltype(std::declval<const Traits&>().acts_on_assumed_copy(
                std::declval<const typename Traits::command_type&>()))>> : std::true_type {};

/// Whether `Traits` has the optional `timer(state, action)` (entity_traits.hpp).
template <class Traits, class = void>
struct has_timer_hook : std::false_type {};

template <class Traits>
struct has_timer_hook<Traits, std::void_t<decltype(std::declval<const Traits&>().timer(
                                  std::declval<const typename Traits::state_type&>(),
                                  std::declval<const typename Traits::action_type&>()))>>
    : std::true_type {};

/// Whether `Traits` has the optional `finished(state)` (entity_traits.hpp).
template <class Traits, class = void>
struct has_finished_hook : std::false_type {};

template <class Traits>
struct has_finished_hook<Traits, std::void_t<decltype(std::declval<const Traits&>().finished(
                                     std::declval<const typename Traits::state_type&>()))>>
    : std::true_type {};

/// Whether an actor waits for the answer to a request it sent (`request(...).then`: a journal
/// append, a read, a step sent to another entity, a PSP call). CAF 0.17.6 keeps those handlers in
/// a protected member and offers no query; a pointer to that member, named through this class,
/// reads it. Never instantiated.
struct awaited_answers : caf::scheduled_actor {
  static bool any(const caf::scheduled_actor& self) {
    return !(self.*&awaited_answers::multiplexed_responses_).empty() ||
           !(self.*&awaited_answers::awaited_responses_).empty();
  }
};

} // namespace detail

/// The alternative of `Variant` that `msg` holds as its only element, if any.
template <class Variant>
std::optional<Variant> command_from_message(const caf::message& msg) {
  return detail::first_match<Variant>(msg, static_cast<Variant*>(nullptr));
}

/// How long an entity waits for the journal's answer to an append, and for the reader's answer to
/// a read (recovery or catch-up), before it ends itself with an error: its host restarts it and
/// the next incarnation recovers from the journal and answers what the ended one held. Checked
/// on the entity's tick (end_if_overdue), not by a CAF request timeout: in 0.17 each of those
/// is a clock-thread event, never cancelled, and fires as a late message after every answer.
constexpr auto append_limit = std::chrono::seconds(60);
constexpr auto read_limit = std::chrono::seconds(30);

/// An envelope for a command an entity sends because of `cause`; `message_id` must be the same
/// every time the same step is (re)sent, so that the receiver deduplicates it.
inline envelope caused_by(const envelope& cause, std::string message_id,
                          const std::string& correlation_id) {
  envelope env;
  env.message_id = std::move(message_id);
  env.correlation_id = correlation_id;
  env.causation_id = cause.message_id;
  env.traceparent = cause.traceparent;
  return env;
}

/// Sends `command` to entity `id` behind `host` (send_command: directly while it runs);
/// `on_reply` gets its reply (`Reply`: the aggregate's reply type, e.g.
/// inventory::inventory_reply), `on_rejection` the aggregate's error code (`Errc`) and reason when
/// the entity rejected the command. Other errors are dropped: the sender's saga timers and resume
/// cover them. No timeout: every command is answered (by its entity, or by the host that takes it
/// back when the entity ends; or the host dies, and then so does the node), and a CAF request
/// timeout is never cancelled in 0.17 (two clock-thread events and a late message per request,
/// for nothing).
template <class Reply, class Errc, class OnReply, class OnRejection>
void route(caf::event_based_actor* self, const caf::actor& host, const std::string& id,
           envelope env, caf::message command, OnReply on_reply, OnRejection on_rejection) {
  send_command<Reply>(
      self, host, id, caf::infinite, std::move(env), std::move(command),
      [=](Reply& reply) mutable { on_reply(reply); },
      [=](caf::error& err) mutable {
        if (auto code = rejection_code<Errc>(err)) {
          on_rejection(*code, reason_of(err));
        }
      });
}

/// The same without a rejection handler: rejections are dropped like any error.
template <class Reply, class OnReply>
void route(caf::event_based_actor* self, const caf::actor& host, const std::string& id,
           envelope env, caf::message command, OnReply on_reply) {
  send_command<Reply>(
      self, host, id, caf::infinite, std::move(env), std::move(command),
      [=](Reply& reply) mutable { on_reply(reply); }, [](caf::error&) {});
}

/// Sends a command to the entity itself, through its mailbox like any other (deduplicated by the
/// envelope's message id); nobody waits for the answer.
inline void tell_self(caf::event_based_actor* self, envelope env, caf::message command) {
  caf::anon_send(caf::actor_cast<caf::actor>(self), deliver_atom::value, std::move(env),
                 std::move(command));
}

/// How long an entity remembers a handled message id, across snapshots, passivation and
/// restarts: the API's idempotency window (README.md).
constexpr std::chrono::hours dedupe_window{24};

/// The most message ids one entity remembers, whatever their age (oldest forgotten first).
constexpr size_t max_remembered_messages = 100000;

/// The snapshot schema the runtime writes: {"state": <the aggregate's encode_snapshot>,
/// "handled": [[message_id, at_us, accepted, code, reason, [event types], version], ...]}, so
/// that deduplication survives snapshots. Schema 1 (older snapshots) is the aggregate's state
/// alone; its dedupe record is rebuilt from the events after it only.
constexpr int32_t snapshot_with_dedupe = 2;

/// What an entity remembers of a command it handled, to answer its redelivery the same way: the
/// reply (the traits' reply_type, made from the recorded event types, the version and the current
/// summary) or the rejection (a caf::error of the traits' errc_type).
struct handled_command {
  /// When it was decided (Unix microseconds); forgotten dedupe_window later.
  int64_t at_us = 0;
  /// Set: rejected (the aggregate's errc value and reason), nothing recorded.
  std::optional<rejection> rejected;
  /// Wire names of the events the command recorded (none for an idempotent repeat).
  std::vector<std::string> events;
  /// The stream's version after the command.
  int64_t version = 0;
};

template <class Traits>
struct entity_state {
  using command_type = typename Traits::command_type;
  using state_type = typename Traits::state_type;

  struct waiting {
    caf::response_promise promise;
    envelope env;
    command_type command;
    /// entity_state::journal_reads when the entity took it: a read numbered higher was sent
    /// after it arrived (see entity_runtime::catch_up).
    uint64_t reads_before = 0;
    /// The message it came as, and whether it came straight from its caller (not through the
    /// host, which takes back what it handed on itself): what the entity hands to its host if it
    /// ends before answering.
    caf::message raw;
    bool direct = false;
  };

  struct batch {
    std::vector<waiting> commands;
    std::vector<handled_command> replies;
    state_type next_state;
    /// The decide_context's now_us of its commands.
    int64_t decided_at_us = 0;
    /// What the recorded events ask the entity to send once they are durable (the saga's steps).
    std::vector<std::pair<std::vector<typename Traits::action_type>, envelope>> actions;
  };

  /// A timer command (Traits::timer) waiting for its time: queued by the first tick at or after
  /// `due`.
  struct armed_timer {
    caf::actor_clock::time_point due;
    envelope env;
    command_type command;
  };

  entity_state() = default;
  entity_state(const entity_state&) = delete;
  entity_state& operator=(const entity_state&) = delete;

  /// Runs when the entity ends, however it ends (passivated, crashed, killed, unreadable
  /// history): hands the commands its callers sent it directly and that it did not answer to the
  /// host, for the next incarnation (a passivating entity answers all it took before it stops).
  ~entity_state() {
    auto returned = std::make_shared<returned_commands>();
    auto take = [&](waiting& w) {
      if (w.direct && w.promise.pending()) {
        returned->commands.push_back(
            returned_command{std::move(w.promise), std::move(w.env), std::move(w.raw)});
      }
    };
    if (in_append) {
      for (auto& w : in_append->commands) {
        take(w);
      }
    }
    if (in_append_repeats) {
      for (auto& r : *in_append_repeats) {
        take(r.first);
      }
    }
    if (catching_up) {
      take(*catching_up);
    }
    for (auto& w : queue) {
      take(w);
    }
    if (!returned->commands.empty() && host) {
      caf::anon_send(host, take_back_atom::value, id, std::move(returned));
    }
  }

  Traits traits;
  std::string id;
  std::string stream;
  caf::actor host;
  /// Appends go to the journal writer that runs now (supervised::route).
  supervised<persistence::journal_actor> journal;
  persistence::reader_actor reader;
  host_settings settings;

  state_type state;
  int64_t version = 0;
  int64_t events_since_snapshot = 0;
  bool recovered = false;
  /// The first recovery's recover_atom waits in the mailbox (not a command: max_queue counts
  /// commands).
  bool recovery_queued = false;
  /// Reads of the stream sent so far (recoveries and catch-ups), and the number of the one the
  /// copy was last brought up to date by.
  uint64_t journal_reads = 0;
  uint64_t copy_read = 0;
  /// The copy is taken for an empty stream, never read (entity_runtime::activate): commands are
  /// decided on it, but only an append at version 0 confirms it; recovered stays false.
  bool assumed_new = false;
  /// The first recovery was put back behind the commands in the mailbox once (activate).
  bool recovery_deferred = false;
  bool appending = false;
  /// When the append in flight is overdue (append_limit after it was sent).
  caf::actor_clock::time_point append_due;
  /// The number (journal_reads) of the read in flight, 0 if none, and when it is overdue.
  uint64_t read_in_flight = 0;
  caf::actor_clock::time_point read_due;
  /// The batch whose append is in flight, and the repeats answered with it.
  std::shared_ptr<batch> in_append;
  std::shared_ptr<std::vector<std::pair<waiting, size_t>>> in_append_repeats;
  /// A rejected command waits here while the stream's newer events are read (catch_up).
  std::optional<waiting> catching_up;
  bool stopping = false;
  bool asked_to_passivate = false;
  /// It ended because its work is finished (entity_runtime::end_if_finished): no tick follows.
  bool ended = false;
  /// A tick is being handled (on_tick arms the next one itself, or passivates).
  bool ticking = false;
  std::deque<waiting> queue;
  /// The commands of the batch being built: answered `crashed` if applying their events throws.
  std::vector<caf::response_promise> deciding;
  /// Handled message ids (see dedupe_window), and their order of handling, oldest first.
  std::unordered_map<std::string, handled_command> handled;
  std::deque<std::string> handled_order;
  /// Times on the actor clock (virtual under test_coordinator).
  caf::actor_clock::time_point last_command;
  /// The ticks on their way: each runs on_tick when it comes.
  wakeups ticks;
  /// The timer commands armed and still able to decide something (entity_runtime::arm_timers).
  std::vector<armed_timer> timers;
  /// Last commit or resume: a process manager whose step stalls longer than its timeout resumes.
  caf::actor_clock::time_point last_progress;
  uint64_t commands = 0;
  uint64_t appends = 0;
};

template <class Traits>
class entity_runtime {
public:
  using state = entity_state<Traits>;
  using pointer = caf::stateful_actor<state>*;
  using waiting = typename state::waiting;
  using batch = typename state::batch;

  /// Records `done` as the answer to `message_id`, decided at `done.at_us`, and forgets what is
  /// older than dedupe_window or beyond max_remembered_messages.
  static void remember(pointer self, const std::string& message_id, handled_command done) {
    auto& st = self->state;
    if (!message_id.empty() && st.handled.emplace(message_id, std::move(done)).second) {
      st.handled_order.push_back(message_id);
    }
    forget_expired(self);
  }

  static void forget_expired(pointer self) {
    auto& st = self->state;
    auto oldest = st.settings.now_us() -
                  std::chrono::duration_cast<std::chrono::microseconds>(dedupe_window).count();
    while (!st.handled_order.empty()) {
      auto i = st.handled.find(st.handled_order.front());
      if (i != st.handled.end() && st.handled_order.size() <= max_remembered_messages &&
          i->second.at_us >= oldest) {
        break;
      }
      if (i != st.handled.end()) {
        st.handled.erase(i);
      }
      st.handled_order.pop_front();
    }
  }

  /// Answers `w` with `done`: the aggregate's reply (with the current summary), wrapped
  /// (reply_atom) when the host sent it, or the rejection as a caf::error of the aggregate's errc.
  /// `redelivered`: `done` was decided for an earlier delivery of `w`'s message id.
  static void answer(pointer self, waiting& w, const handled_command& done, bool redelivered) {
    auto& st = self->state;
    if (done.rejected) {
      answer(w, caf::make_error(static_cast<typename Traits::errc_type>(done.rejected->code),
                                done.rejected->reason));
    } else {
      auto typed = st.traits.reply(st.state, done.events, done.version);
      if constexpr (detail::has_repeated_flag<decltype(typed)>::value) {
        typed.repeated = redelivered || done.events.empty();
      }
      auto reply = caf::make_message(std::move(typed));
      // A caller that sent it directly gets the reply itself; the host gets it wrapped, to
      // forward whatever the aggregate (it cannot catch an arbitrary reply type).
      answer(w,
             w.direct ? std::move(reply) : caf::make_message(reply_atom::value, std::move(reply)));
    }
  }

  /// The snapshot payload (schema snapshot_with_dedupe) of the current state.
  static std::string encode_snapshot(pointer self) {
    auto& st = self->state;
    auto handled = nlohmann::json::array();
    for (const auto& id : st.handled_order) {
      const auto& h = st.handled.at(id);
      handled.push_back({id, h.at_us, !h.rejected, h.rejected ? h.rejected->code : uint8_t{0},
                         h.rejected ? h.rejected->reason : std::string{}, h.events, h.version});
    }
    return R"({"handled":)" + dump_lenient(handled) + R"(,"state":)" +
           st.traits.encode_snapshot(st.state) + "}";
  }

  /// The state of a snapshot payload, restoring its dedupe record; nullopt if unreadable.
  static std::optional<typename Traits::state_type>
  decode_snapshot(pointer self, const persistence::snapshot& snap) {
    auto& st = self->state;
    if (snap.schema_version != snapshot_with_dedupe) {
      return st.traits.decode_snapshot(snap.payload);
    }
    try {
      auto j = nlohmann::json::parse(snap.payload);
      auto state = st.traits.decode_snapshot(j.at("state").dump());
      if (!state) {
        return std::nullopt;
      }
      for (const auto& h : j.at("handled")) {
        handled_command done{h.at(1).get<int64_t>(), std::nullopt,
                             h.at(5).get<std::vector<std::string>>(), h.at(6).get<int64_t>()};
        if (!h.at(2).get<bool>()) {
          done.rejected = rejection{h.at(3).get<uint8_t>(), h.at(4).get<std::string>()};
        }
        remember(self, h.at(0).get<std::string>(), std::move(done));
      }
      return state;
    } catch (const nlohmann::json::exception&) {
      return std::nullopt;
    }
  }

  static void answer(waiting& w, caf::message reply) {
    if (w.promise.pending()) {
      w.promise.deliver(std::move(reply));
    }
  }

  static void answer(waiting& w, caf::error err) {
    if (w.promise.pending()) {
      w.promise.deliver(std::move(err));
    }
  }

  static void recover(pointer self) {
    auto& st = self->state;
    st.recovered = false;
    st.assumed_new = false;
    auto read = ++st.journal_reads;
    read_sent(self, read);
    self->request(st.reader, caf::infinite, persistence::recover_atom::value, st.stream)
        .then(
            [=](persistence::stream_history& history) {
              read_answered(self, read);
              recovered_from(self, read, history);
            },
            [=](caf::error& err) { recovery_failed(self, read, err); });
  }

  /// Recovery when the stream's snapshot cannot be decoded (written by a newer build, or by an
  /// older one after a format change and a rollback): a snapshot only shortens recovery, so the
  /// stream is read from its first event instead. Its events must decode (else the entity ends
  /// unreadable_history, as ever); the next snapshot it writes replaces the unreadable one.
  static void replay_whole_stream(pointer self, int64_t snapshot_version) {
    auto& st = self->state;
    observability::log_event(spdlog::level::warn, "snapshot unreadable: replaying the stream",
                             {{"entity", st.stream}, {"snapshot_version", snapshot_version}});
    auto read = ++st.journal_reads;
    read_sent(self, read);
    self->request(st.reader, caf::infinite, persistence::events_after_atom::value, st.stream,
                  int64_t{0})
        .then(
            [=](persistence::stream_history& history) {
              read_answered(self, read);
              recovered_from(self, read, history);
            },
            [=](caf::error& err) { recovery_failed(self, read, err); });
  }

  /// The copy rebuilt from `history` (read number `read`), then resumed; or, if its snapshot
  /// cannot be decoded, the whole stream read first.
  static void recovered_from(pointer self, uint64_t read, persistence::stream_history& history) {
    // Empty on activation; the copy before an append answered unknown or refused.
    auto before = self->state.state;
    switch (rebuild(self, history)) {
      case rebuilt::failed:
        return;
      case rebuilt::snapshot_unreadable:
        replay_whole_stream(self, history.latest_snapshot.stream_version);
        return;
      case rebuilt::copy:
        break;
    }
    self->state.recovered = true;
    self->state.copy_read = read;
    if constexpr (detail::has_committed_hook<Traits>::value) {
      // What became durable while no append answered (its reply was lost, or another writer's
      // append, or a killed incarnation's): the hook hears it here or never.
      self->state.traits.committed(self, before, self->state.state);
    }
    util::fail_point("entity.recovered_before_resume");
    queue_timer_command(self, true);
    resume(self);
    drain(self);
  }

  /// The database is away: fail what waits (nothing was decided) and try again soon.
  static void recovery_failed(pointer self, uint64_t read, const caf::error& err) {
    read_answered(self, read);
    auto& s = self->state;
    for (auto& w : s.queue) {
      answer(w, caf::make_error(entity_errc::journal_unavailable,
                                "recovery failed: " + self->system().render(err)));
    }
    s.queue.clear();
    self->delayed_send(self, std::chrono::milliseconds(500), persistence::recover_atom::value);
  }

  enum class rebuilt { copy, snapshot_unreadable, failed };

  /// Rebuilds the copy from `history`: its snapshot, then its events. failed: an event cannot be
  /// decoded (the entity has ended); snapshot_unreadable: nothing was applied.
  static rebuilt rebuild(pointer self, persistence::stream_history& history) {
    auto& st = self->state;
    st.state = {};
    st.version = 0;
    auto now = st.settings.now_us();
    if (history.has_snapshot) {
      auto snap = decode_snapshot(self, history.latest_snapshot);
      if (!snap) {
        return rebuilt::snapshot_unreadable;
      }
      st.state = std::move(*snap);
      st.version = history.latest_snapshot.stream_version;
    }
    for (const auto& recorded : history.events) {
      if (!apply_recorded(self, recorded, now)) {
        return rebuilt::failed;
      }
    }
    st.events_since_snapshot = static_cast<int64_t>(history.events.size());
    return rebuilt::copy;
  }

  /// Applies one event of the stream to the state and remembers its command's message id;
  /// false (and the entity ended) if it cannot be decoded.
  static bool apply_recorded(pointer self, const persistence::recorded_event& recorded,
                             int64_t now) {
    auto& st = self->state;
    auto ev = st.traits.decode(recorded);
    if (!ev) {
      fail_history(self, "cannot decode " + recorded.type + " at version " +
                             std::to_string(recorded.stream_version));
      return false;
    }
    st.state = st.traits.apply(std::move(st.state), *ev);
    st.version = recorded.stream_version;
    auto meta = nlohmann::json::parse(recorded.metadata, nullptr, false);
    if (meta.is_object() && meta.contains("message_id") && meta["message_id"].is_string()) {
      auto mid = meta["message_id"].template get<std::string>();
      auto found = st.handled.find(mid);
      if (found == st.handled.end()) {
        auto at = recorded.recorded_at_us != 0 ? recorded.recorded_at_us : now;
        remember(self, mid,
                 handled_command{at, std::nullopt, {recorded.type}, recorded.stream_version});
      } else {
        found->second.events.push_back(recorded.type);
        found->second.version = recorded.stream_version;
      }
    }
    return true;
  }

  /// Whether the copy was read from the stream after `w` arrived (no later than a catch-up
  /// for `w` would read it): then another writer's append before `w` arrived is in it. Appends
  /// since that read keep it so: each commits only if the stream moved by nothing else.
  static bool read_since_arrival(pointer self, const waiting& w) {
    return self->state.copy_read > w.reads_before;
  }

  /// A rejection writes nothing, so no version check tells the entity that its copy is stale
  /// (another process hosting the same entity appended meanwhile). Before `w`'s rejection is
  /// answered, unless the copy was read after `w` arrived (read_since_arrival: e.g. `w`
  /// activated the entity), the stream's events after the entity's version are read and
  /// applied; `w` then goes back to the front of the queue to be decided again on the current
  /// copy. At most one read per rejection; accepted commands never read. If the read fails the
  /// rejection cannot be confirmed: `w` is answered journal_unavailable (its sender retries).
  static void catch_up(pointer self, waiting w) {
    auto& st = self->state;
    st.catching_up = std::move(w);
    auto read = ++st.journal_reads;
    read_sent(self, read);
    self->request(st.reader, caf::infinite, persistence::events_after_atom::value, st.stream,
                  st.version)
        .then(
            [=](persistence::stream_history& later) {
              read_answered(self, read);
              auto& s = self->state;
              // Back in the queue before the events are applied: if one cannot be, the entity
              // ends and hands what it holds (this too) to its host.
              s.queue.push_front(std::move(*s.catching_up));
              s.catching_up.reset();
              auto now = s.settings.now_us();
              for (const auto& recorded : later.events) {
                // Only what follows the copy (a recovery may have run meanwhile).
                if (recorded.stream_version != s.version + 1) {
                  continue;
                }
                if (!apply_recorded(self, recorded, now)) {
                  return;
                }
                s.events_since_snapshot += 1;
              }
              s.copy_read = std::max(s.copy_read, read);
              drain(self);
            },
            [=](caf::error& err) {
              read_answered(self, read);
              auto& s = self->state;
              auto unchecked = std::move(*s.catching_up);
              s.catching_up.reset();
              answer(unchecked, caf::make_error(entity_errc::journal_unavailable,
                                                "cannot confirm a rejection against the stream: " +
                                                    self->system().render(err)));
              drain(self);
            });
  }

  /// Read number `read` is on its way to the reader: the tick ends the entity if it is not
  /// answered within read_limit.
  static void read_sent(pointer self, uint64_t read) {
    auto& st = self->state;
    st.read_in_flight = read;
    st.read_due = self->clock().now() + read_limit;
    tick_by_overdue(self, st.read_due);
  }

  static void read_answered(pointer self, uint64_t read) {
    if (self->state.read_in_flight == read) {
      self->state.read_in_flight = 0;
    }
  }

  /// Ends the entity if the journal has not answered its append, or the reader its read, in
  /// time (a hung writer or connection, a lost reply): true if it did. Its host restarts it; the
  /// next incarnation reads the stream (which holds the append if it committed after all, and
  /// refuses it by version if it commits later) and answers the commands this one held. A late
  /// answer reaches no one.
  static bool end_if_overdue(pointer self, caf::actor_clock::time_point now) {
    auto& st = self->state;
    std::optional<caf::error> why;
    if (st.appending && now >= st.append_due) {
      why = caf::make_error(entity_errc::outcome_unknown,
                            "the journal did not answer an append within " +
                                std::to_string(append_limit.count()) + " s");
    } else if (st.read_in_flight != 0 && now >= st.read_due) {
      why = caf::make_error(entity_errc::journal_unavailable,
                            "the reader did not answer a read within " +
                                std::to_string(read_limit.count()) + " s");
    }
    if (!why) {
      return false;
    }
    observability::log_event(spdlog::level::err, "entity ends: journal overdue",
                             {{"entity", st.stream}, {"reason", self->system().render(*why)}});
    self->quit(std::move(*why));
    return true;
  }

  /// The first recovery, once the commands already in the mailbox were taken (it waits behind
  /// them once more if none was yet): nothing is read when the first of them may start the
  /// stream (Traits::starts_stream: its id was just minted, the stream cannot exist yet). The copy
  /// is then assumed empty (assumed_new) and commands are decided on it under rules that make a
  /// wrong assumption cost a read, never an answer: its append is at expected version 0 (refused
  /// if the stream exists; the entity then reads it and decides again, where a replayed message
  /// id finds its first outcome); whatever appends nothing (a rejection, an accept that changes
  /// nothing, a deadline passed) is answered only after a read (read_first), unless the traits
  /// let it act on the assumed copy (needs_read_first); no timer command or resume runs on it
  /// (recovered stays false). Any later recovery reads.
  static void activate(pointer self) {
    auto& st = self->state;
    st.recovery_queued = false;
    if (st.journal_reads == 0 && !st.assumed_new) {
      if (st.queue.empty() && !st.recovery_deferred && self->mailbox().size() > 0) {
        st.recovery_deferred = true;
        st.recovery_queued = true;
        self->send(self, persistence::recover_atom::value);
        return;
      }
      if (!st.queue.empty() && starts_stream(self, st.queue.front())) {
        st.assumed_new = true;
        drain(self);
        return;
      }
    }
    recover(self);
  }

  static bool starts_stream([[maybe_unused]] pointer self, [[maybe_unused]] const waiting& w) {
    if constexpr (detail::has_starts_stream<Traits>::value) {
      return self->state.traits.starts_stream(w.command);
    } else {
      return false;
    }
  }

  /// Whether `d`, `w`'s decision on an assumed copy, appends nothing and may not be carried out
  /// on that copy: it is then read_first. Only an accepted command the traits let act on an
  /// assumed copy (Traits::acts_on_assumed_copy) goes on without a read: what it causes is
  /// idempotent by key, and is recorded by a later append at version 0, which the stream refuses
  /// if it exists (the entity then reads it and decides again).
  template <class Decision>
  static bool needs_read_first(pointer self, const waiting& w, const Decision& d) {
    if (!self->state.assumed_new || !d.events.empty()) {
      return false;
    }
    if constexpr (detail::has_acts_on_assumed_copy<Traits>::value) {
      return !(d.accepted() && self->state.traits.acts_on_assumed_copy(w.command));
    } else {
      return true;
    }
  }

  /// `w`, decided on an assumed copy into an answer that appends nothing, goes back to the front
  /// of the queue; the stream is read (after `b`'s append, if it has commands: a committed
  /// append at version 0 confirms the copy) and `w` decided again.
  static void read_first(pointer self, const batch& b, waiting w) {
    self->state.queue.push_front(std::move(w));
    if (b.commands.empty()) {
      recover(self);
    }
  }

  /// Whether an append or a read (recovery or catch-up) is in flight: commands wait for it, and
  /// the entity neither passivates nor stops before it is answered or overdue.
  static bool busy(pointer self) {
    auto& st = self->state;
    return st.appending || st.read_in_flight != 0 || st.catching_up.has_value();
  }

  /// Whether the entity may end without losing anything: nothing in flight or waiting, and its
  /// copy is the stream (recovered) or a never-written one (assumed_new: an append that committed
  /// at version 0 made it recovered, one answered outcome_unknown made it read). An entity whose
  /// recovery failed waits for its next read: the committed hook and resume hear the stream then
  /// or never.
  static bool settled(pointer self) {
    auto& st = self->state;
    return (st.recovered || st.assumed_new) && st.queue.empty() && !busy(self);
  }

  static void fail_history(pointer self, const std::string& what) {
    observability::log_event(spdlog::level::err, "entity history unreadable",
                             {{"entity", self->state.stream}, {"problem", what}});
    self->quit(caf::make_error(entity_errc::unreadable_history, what));
  }

  using decision_type = decltype(std::declval<const Traits&>().decide(
      std::declval<const typename Traits::state_type&>(),
      std::declval<const typename Traits::command_type&>(), std::declval<const decide_context&>()));

  /// Decides one command and encodes its events with their metadata. Anything that throws here
  /// (a client's bytes the codec refuses, an aggregate bug) fails this command alone: it is
  /// answered unrecordable_command and nullopt returned; nothing of it reaches the batch.
  static std::optional<std::pair<decision_type, std::vector<persistence::new_event>>>
  decide_one(pointer self, const typename Traits::state_type& current, waiting& w,
             const decide_context& ctx) {
    auto& st = self->state;
    try {
      auto d = st.traits.decide(current, w.command, ctx);
      std::vector<persistence::new_event> stored;
      auto metadata = event_metadata(w.env);
      for (const auto& ev : d.events) {
        stored.push_back(st.traits.encode(ev));
        stored.back().metadata = metadata;
      }
      return std::make_pair(std::move(d), std::move(stored));
    } catch (const std::exception& e) {
      observability::log_event(
          spdlog::level::err, "command not recordable",
          {{"entity", st.stream}, {"message_id", w.env.message_id}, {"exception", e.what()}});
      answer(w, caf::make_error(entity_errc::unrecordable_command, e.what()));
      return std::nullopt;
    }
  }

  /// Decides every waiting command it may (all of them, up to max_batch, when batching) into one
  /// append; answers each only after that append is durable.
  static void drain(pointer self) {
    auto& st = self->state;
    while ((st.recovered || st.assumed_new) && !busy(self) && !st.queue.empty()) {
      auto limit = st.settings.batch_commands ? st.settings.max_batch : 1u;
      auto now = st.settings.now_us();
      auto b = std::make_shared<batch>();
      b->next_state = st.state;
      b->decided_at_us = now;
      std::vector<persistence::new_event> events;
      std::unordered_map<std::string, size_t> in_batch;
      std::vector<std::pair<waiting, size_t>> repeats;
      while (!st.queue.empty() && b->commands.size() < limit) {
        auto w = std::move(st.queue.front());
        st.queue.pop_front();
        // A repeat learns its first outcome even past its deadline: it was executed.
        if (auto done = st.handled.find(w.env.message_id); done != st.handled.end()) {
          answer(self, w, done->second, true);
          continue;
        }
        if (w.env.deadline_us != 0 && w.env.deadline_us < now) {
          if (st.assumed_new) { // it may have been recorded: only the stream tells
            read_first(self, *b, std::move(w));
            break;
          }
          answer(w, caf::make_error(entity_errc::deadline_exceeded, "deadline passed in queue"));
          continue;
        }
        if (auto same = in_batch.find(w.env.message_id); same != in_batch.end()) {
          repeats.emplace_back(std::move(w), same->second);
          continue;
        }
        decide_context ctx{now, draw_jitter()};
        auto decided = decide_one(self, b->next_state, w, ctx);
        if (!decided) {
          continue; // answered with its own error; the rest of the batch goes on
        }
        auto& [d, stored_events] = *decided;
        if (needs_read_first(self, w, d)) {
          read_first(self, *b, std::move(w)); // no append would check the copy it was decided on
          break;
        }
        if (d.rejected && !read_since_arrival(self, w)) {
          if (b->commands.empty()) {
            catch_up(self, std::move(w));
          } else {
            st.queue.push_front(std::move(w)); // decided again after this batch is durable
          }
          break;
        }
        st.deciding.push_back(w.promise);
        handled_command reply{now, d.rejected, {}, 0};
        for (size_t i = 0; i < d.events.size(); ++i) {
          const auto& ev = d.events[i];
          b->next_state = st.traits.apply(std::move(b->next_state), ev);
          if (auto actions = st.traits.reactions(b->next_state, ev, ctx); !actions.empty()) {
            b->actions.emplace_back(std::move(actions), w.env);
          }
          reply.events.push_back(stored_events[i].type);
          events.push_back(std::move(stored_events[i]));
        }
        if constexpr (detail::has_effects<Traits>::value) {
          // Sent after the batch is durable, like reactions.
          if (auto actions = st.traits.effects(b->next_state, w.command, ctx);
              d.accepted() && !actions.empty()) {
            b->actions.emplace_back(std::move(actions), w.env);
          }
        }
        if (!w.env.message_id.empty()) {
          in_batch.emplace(w.env.message_id, b->commands.size());
        }
        b->commands.push_back(std::move(w));
        b->replies.push_back(std::move(reply));
      }
      st.deciding.clear();
      st.commands += b->commands.size();
      if (b->commands.empty() && repeats.empty()) {
        continue; // nothing decided (a rejection is being checked, or all were answered)
      }
      if (events.empty()) {
        finish(self, *b, repeats);
        continue;
      }
      st.appending = true;
      auto event_count = static_cast<int64_t>(events.size());
      auto rest = std::make_shared<std::vector<std::pair<waiting, size_t>>>(std::move(repeats));
      st.in_append = b;
      st.in_append_repeats = rest;
      st.append_due = self->clock().now() + append_limit;
      // The journal answers every append (committed, refused, or outcome_unknown within its
      // commit timeout or when it ends; what it never took comes back request_receiver_down):
      // an entity that may finish arms no tick for it (end_if_overdue still looks on any tick).
      if constexpr (!detail::has_finished_hook<Traits>::value) {
        tick_by(self, st.append_due, st.settings.tick_interval);
      }
      self->request(st.journal.route(), caf::infinite, persistence::append_atom::value,
                    persistence::stream_append{st.stream, st.version, std::move(events)})
          .then(
              [=](persistence::append_result& r) {
                auto& s = self->state;
                s.appending = false;
                if (r.status == persistence::append_status::version_conflict) {
                  s.in_append.reset();
                  s.in_append_repeats.reset();
                  // Another writer moved the stream (a stale owner elsewhere): re-read, decide
                  // again.
                  for (auto i = b->commands.rbegin(); i != b->commands.rend(); ++i) {
                    s.queue.push_front(std::move(*i));
                  }
                  for (auto& [w, _] : *rest) {
                    s.queue.push_back(std::move(w));
                  }
                  recover(self);
                  return;
                }
                auto before = std::move(s.state);
                s.state = std::move(b->next_state);
                s.version = r.stream_version;
                if (s.assumed_new) { // committed at version 0: the copy is the stream
                  s.assumed_new = false;
                  s.recovered = true;
                }
                s.last_progress =
                    self->clock().now(); // a commit is progress: stalled() waits again
                s.appends += 1;
                s.events_since_snapshot += event_count;
                finish(self, *b, *rest);
                // Only now: if finishing threw, the entity ends with them still listed, and what
                // it did not answer goes to its host.
                s.in_append.reset();
                s.in_append_repeats.reset();
                if constexpr (detail::has_committed_hook<Traits>::value) {
                  s.traits.committed(self, before, s.state);
                }
                maybe_snapshot(self);
                drop_stale_timers(self);
                drain(self);
                schedule_tick(self);
              },
              [=](caf::error& err) {
                auto& s = self->state;
                s.appending = false;
                s.in_append.reset();
                s.in_append_repeats.reset();
                auto unknown = err == persistence::store_errc::outcome_unknown;
                auto code =
                    unknown ? entity_errc::outcome_unknown : entity_errc::journal_unavailable;
                for (auto& w : b->commands) {
                  answer(w, caf::make_error(code, self->system().render(err)));
                }
                for (auto& [w, _] : *rest) {
                  answer(w, caf::make_error(code, self->system().render(err)));
                }
                if (unknown) {
                  recover(self); // the append may have committed: the stream is the truth
                } else {
                  drain(self);
                }
              });
      return;
    }
    if (!settled(self)) {
      return;
    }
    if (st.stopping) {
      self->quit();
    } else if (!end_if_finished(self) && st.ticks.size() == 0 && !st.ticking) {
      schedule_tick(self); // an entity that may finish arms none at its start
    }
  }

  /// Whether the aggregate says its work is finished (Traits::finished; never without it).
  static bool finished([[maybe_unused]] pointer self) {
    if constexpr (detail::has_finished_hook<Traits>::value) {
      return self->state.traits.finished(self->state.state);
    } else {
      return false;
    }
  }

  /// Ends the entity now if its aggregate's work is finished and nothing could still reach it:
  /// settled (nothing queued or in flight), no timer armed, no answer to a request of its own
  /// awaited (a step sent to another entity, a PSP call: their handlers die with it, and so does
  /// the re-routing of a step whose receiver ended) and nothing in its mailbox. True if it ended.
  /// It quits without asking its host (passivate_atom, two more messages): the host lists it as
  /// running until its down message, and a command that reaches it meanwhile, directly or from
  /// the host, comes back request_receiver_down and is kept for the next incarnation (as for a
  /// crash: host.cpp's dispatch and on_entity_down), which recovers from the stream and answers a
  /// repeat from its dedupe record. One that cannot end yet looks again on its next tick, within
  /// tick_interval (schedule_tick).
  static bool end_if_finished(pointer self) {
    auto& st = self->state;
    if (!finished(self) || !settled(self) || !st.timers.empty() ||
        detail::awaited_answers::any(*self) || self->mailbox().size() != 0) {
      return false;
    }
    st.ended = true;
    self->quit();
    return true;
  }

  static void finish(pointer self, batch& b, std::vector<std::pair<waiting, size_t>>& repeats) {
    auto& st = self->state;
    for (size_t i = 0; i < b.commands.size(); ++i) {
      auto& reply = b.replies[i];
      reply.version = st.version;
      reply.at_us = b.decided_at_us;
      remember(self, b.commands[i].env.message_id, reply);
      answer(self, b.commands[i], reply, false);
    }
    for (auto& [w, index] : repeats) {
      answer(self, w, b.replies[index], true);
    }
    for (auto& [actions, cause] : b.actions) {
      perform(self, std::move(actions), cause);
    }
  }

  /// Arms the timers among `actions` (arm_timers) and has the traits execute the rest.
  static void perform(pointer self, std::vector<typename Traits::action_type> actions,
                      const envelope& cause) {
    auto& st = self->state;
    auto rest = arm_timers(self, std::move(actions), cause);
    if (!rest.empty()) {
      st.traits.execute(self, st.state, rest, cause);
    }
  }

  /// Takes the timers (Traits::timer) out of `actions` and arms each on the entity's own tick:
  /// the tick comes by its due time, or within tick_interval after it when that is sooner than
  /// the timer's delay (one tick on its way serves every timer it is not too late for). In CAF
  /// 0.17 a delayed send per timer was a clock-thread event of its own, plus a message that
  /// usually found its step long done. A timer armed already under the same message id keeps its
  /// earlier time (a resumed step's timer, as a second delayed send would have been deduplicated).
  static std::vector<typename Traits::action_type>
  arm_timers(pointer self, std::vector<typename Traits::action_type> actions,
             [[maybe_unused]] const envelope& cause) {
    if constexpr (detail::has_timer_hook<Traits>::value) {
      auto& st = self->state;
      auto now = self->clock().now();
      std::vector<typename Traits::action_type> rest;
      for (auto& action : actions) {
        auto timed = st.traits.timer(st.state, action);
        if (!timed) {
          rest.push_back(std::move(action));
          continue;
        }
        auto same = std::find_if(st.timers.begin(), st.timers.end(), [&](const auto& t) {
          return t.env.message_id == timed->message_id;
        });
        if (same != st.timers.end()) {
          continue;
        }
        auto due = now + timed->delay;
        st.timers.push_back({due, caused_by(cause, std::move(timed->message_id), st.id),
                             std::move(timed->command)});
        tick_by(self, due,
                std::min<caf::timespan>(timed->delay, caf::timespan{st.settings.tick_interval}));
      }
      return rest;
    } else {
      return actions;
    }
  }

  /// Forgets the armed timers whose command would do nothing on the current state, neither
  /// record an event nor cause an effect (their step is done): they would only keep the entity
  /// ticking. A timer's step never comes back (each names its step and attempt), so one that does
  /// nothing now never will. A timer that records nothing but acts (the order's first reservation
  /// timeout takes again) is kept.
  static void drop_stale_timers(pointer self) {
    auto& st = self->state;
    if (st.timers.empty()) {
      return;
    }
    decide_context ctx{st.settings.now_us(), 0.5};
    auto does_nothing = [&](const auto& t) {
      auto d = st.traits.decide(st.state, t.command, ctx);
      if (!d.events.empty()) {
        return false;
      }
      if constexpr (detail::has_effects<Traits>::value) {
        return !d.accepted() || st.traits.effects(st.state, t.command, ctx).empty();
      } else {
        return true;
      }
    };
    st.timers.erase(std::remove_if(st.timers.begin(), st.timers.end(), does_nothing),
                    st.timers.end());
  }

  /// Queues the armed timers whose time has come, in the order they were armed.
  static void queue_due_timers(pointer self, caf::actor_clock::time_point now) {
    auto& st = self->state;
    auto due = std::stable_partition(st.timers.begin(), st.timers.end(),
                                     [&](const auto& t) { return t.due > now; });
    for (auto i = due; i != st.timers.end(); ++i) {
      st.queue.push_back(waiting{caf::response_promise{},
                                 std::move(i->env),
                                 std::move(i->command),
                                 st.journal_reads,
                                 {},
                                 false});
    }
    st.timers.erase(due, st.timers.end());
  }

  /// Sends again whatever the state says is still in progress (receivers deduplicate).
  static void resume(pointer self) {
    auto& st = self->state;
    envelope cause;
    cause.message_id = st.stream + "/resume";
    cause.correlation_id = st.id;
    auto actions = st.traits.resume(st.state, decide_context{st.settings.now_us(), 0.5});
    if (!actions.empty()) {
      perform(self, std::move(actions), cause);
    }
    st.last_progress = self->clock().now();
  }

  static void maybe_snapshot(pointer self) {
    auto& st = self->state;
    if (st.settings.snapshot_every == 0 ||
        st.events_since_snapshot < static_cast<int64_t>(st.settings.snapshot_every)) {
      return;
    }
    st.events_since_snapshot = 0;
    try {
      self->send(st.reader, persistence::snapshot_atom::value,
                 persistence::snapshot{st.stream, st.version, st.traits.snapshot_type(),
                                       snapshot_with_dedupe, encode_snapshot(self)});
    } catch (const std::exception& e) {
      // A snapshot only shortens recovery: without one the entity replays more events.
      observability::log_event(spdlog::level::err, "snapshot not encodable",
                               {{"entity", st.stream}, {"exception", e.what()}});
    }
  }

  /// Queues the aggregate's timer command (reservation expiry), if it has one due: first after
  /// recovery, so that what expired while the entity was away is applied before any command is
  /// decided; last on a tick.
  static void queue_timer_command(pointer self, bool first) {
    auto& st = self->state;
    if (auto cmd = st.traits.on_tick(st.state)) {
      envelope env; // timer commands are not deduplicated: no message id
      waiting w{caf::response_promise{}, env, std::move(*cmd), st.journal_reads, {}, false};
      if (first) {
        st.queue.push_front(std::move(w));
      } else {
        st.queue.push_back(std::move(w));
      }
    }
  }

  static void on_tick(pointer self) {
    auto& st = self->state;
    if (end_if_overdue(self, self->clock().now())) {
      return;
    }
    if (st.recovered) {
      drop_stale_timers(self);
      queue_due_timers(self, self->clock().now());
      queue_timer_command(self, false);
      drain(self);
      if (st.ended) {
        return;
      }
    }
    auto now = self->clock().now();
    if (st.recovered && st.queue.empty() && !busy(self) &&
        st.traits.stalled(st.state, now - st.last_progress)) {
      resume(self);
    }
    // An armed timer is not in the journal: passivating would lose it.
    if (!st.asked_to_passivate && settled(self) && st.timers.empty() &&
        now - st.last_command >= st.settings.idle_timeout && st.traits.may_passivate(st.state)) {
      st.asked_to_passivate = true;
      self->send(st.host, passivate_atom::value, st.id);
      // Its host answers with stop_atom: no tick until then. Nothing is in flight (settled); an
      // append or read sent later arms a tick by its due time (tick_by), or finds one armed
      // earlier, and every tick but this one arms the next while anything is in flight.
      return;
    }
    schedule_tick(self);
  }

  /// Nothing the passing of time can change but passivation: no timer command, no step that may
  /// stall, nothing waiting.
  static bool idle(pointer self) {
    auto& st = self->state;
    return st.recovered && st.queue.empty() && !busy(self) && st.timers.empty() &&
           !st.traits.on_tick(st.state) &&
           !st.traits.stalled(st.state, std::chrono::hours(24 * 365));
  }

  /// Makes sure a tick comes when the entity needs one: every tick_interval while it has work
  /// time can move (the first one at most a tick_interval later, when one is on its way: a
  /// step's timer armed by the same commit), else once when it may passivate. A timer event per
  /// entity and second, for thousands of idle entities, kept the clock thread and the workers
  /// busy for nothing.
  static void schedule_tick(pointer self) {
    auto& st = self->state;
    if (st.ended) {
      return;
    }
    auto now = self->clock().now();
    if (finished(self)) {
      // Finished, but an answer is awaited or a message waits (end_if_finished): no passivation
      // tick, a look again soon.
      tick_by(self, now + st.settings.tick_interval, st.settings.tick_interval);
    } else if (idle(self)) {
      // Passivation may come a tick late: a tick already on its way then serves.
      tick_by(self,
              std::max(now + st.settings.tick_interval, st.last_command + st.settings.idle_timeout),
              st.settings.tick_interval);
    } else {
      tick_by(self, now + st.settings.tick_interval, st.settings.tick_interval);
    }
  }

  /// Makes sure a tick comes once the read just sent is overdue (`due`: end_if_overdue). An
  /// entity that cannot finish has its passivation tick on its way, which serves. One that may
  /// finish (Traits::finished) arms no passivation tick and usually ends long before `due`, and a
  /// delayed message keeps the ended actor (about 2 KB) until it fires: it asks for a tick within
  /// tick_interval instead, and each tick asks for the next while the work is in flight
  /// (schedule_tick).
  static void tick_by_overdue(pointer self, caf::actor_clock::time_point due) {
    auto& st = self->state;
    if constexpr (detail::has_finished_hook<Traits>::value) {
      tick_by(self, self->clock().now() + st.settings.tick_interval, st.settings.tick_interval);
    } else {
      tick_by(self, due, st.settings.tick_interval);
    }
  }

  /// Makes sure a tick comes no later than `at` + `late` (one already on its way if it does).
  static void tick_by(pointer self, caf::actor_clock::time_point at,
                      caf::timespan late = caf::timespan{0}) {
    self->state.ticks.template arm_by<tick_atom>(self, at, late);
  }

  static caf::behavior make(pointer self, Traits traits, std::string id, caf::actor host,
                            supervised<persistence::journal_actor> journal,
                            persistence::reader_actor reader, host_settings settings) {
    auto& st = self->state;
    st.traits = std::move(traits);
    st.id = std::move(id);
    st.stream = st.traits.kind() + "/" + st.id;
    st.host = std::move(host);
    st.journal = std::move(journal);
    st.reader = std::move(reader);
    st.settings = settings;
    st.last_command = self->clock().now();
    st.last_progress = st.last_command;
    self->set_exception_handler([](caf::scheduled_actor* ptr, std::exception_ptr& eptr) {
      return on_crash(static_cast<pointer>(ptr), eptr);
    });
    // Read once the commands already in the mailbox (the one that activated it) were taken: the
    // read then follows their arrival, and their rejections need no second read (catch_up).
    st.recovery_queued = true;
    self->send(self, persistence::recover_atom::value);
    // One tick, for when it may passivate if the command that activated it is all it gets (it
    // also covers the recovery read while read_limit <= idle_timeout); a commit that leaves work
    // time can move asks for an earlier one. An entity that may finish arms none: it ends when
    // its work is (end_if_finished), and asks for a tick when something needs one.
    if constexpr (!detail::has_finished_hook<Traits>::value) {
      tick_by(self, st.last_command + st.settings.idle_timeout + st.settings.tick_interval);
    }
    return {
        [=](deliver_atom, envelope& env, caf::message& raw) {
          auto& s = self->state;
          // Before make_response_promise, which takes the sender out of the current message.
          auto direct = self->current_sender() != caf::actor_cast<caf::strong_actor_ptr>(s.host);
          auto promise = self->make_response_promise();
          auto cmd = s.traits.from_message(raw);
          if (!cmd) {
            promise.deliver(
                caf::make_error(entity_errc::unknown_command,
                                "not a " + s.traits.kind() + " command: " + caf::to_string(raw)));
            return promise;
          }
          if (s.queue.size() + self->mailbox().size() - (s.recovery_queued ? 1 : 0) >=
              s.settings.max_queue) {
            promise.deliver(caf::make_error(entity_errc::overloaded,
                                            s.stream + " has " + std::to_string(s.queue.size()) +
                                                " commands waiting"));
            return promise;
          }
          s.last_command = self->clock().now();
          s.asked_to_passivate = false;
          s.queue.push_back(
              waiting{promise, std::move(env), std::move(*cmd), s.journal_reads, raw, direct});
          // No tick for the command itself: what it changes is committed (and then the tick is
          // scheduled), and the append or read it waits for sets when it is overdue.
          drain(self);
          return promise;
        },
        [=](persistence::recover_atom) { activate(self); },
        [=](wake_atom) {}, // its first message when its host has no command for it
        // Answers to the commands the entity sent itself (results, timers) need no handling.
        [=](reply_atom, const caf::message&) {},
        [=](const caf::error&) {},
        [=](tick_atom, uint64_t seq) {
          auto& s = self->state;
          s.ticks.arrived(seq);
          s.ticking = true;
          on_tick(self);
          s.ticking = false;
        },
        [=](stop_atom) {
          self->state.stopping = true;
          drain(self);
        },
        [=](caf::get_atom, inspect_atom) {
          auto& s = self->state;
          return entity_report{
              s.id,       s.version, s.queue.size() + self->mailbox().size(),
              s.commands, s.appends, caf::deep_to_string(s.traits.summary(s.state))};
        },
    };
  }

  static caf::error on_crash(pointer self, std::exception_ptr& eptr) {
    auto& st = self->state;
    std::string what = util::what_of(eptr);
    std::string failing = "?";
    if (auto* current = self->current_mailbox_element()) {
      failing = caf::to_string(current->content());
    }
    observability::log_event(spdlog::level::err, "entity crashed",
                             {{"entity", st.stream}, {"exception", what}, {"message", failing}});
    for (auto& p : st.deciding) {
      if (p.pending()) {
        p.deliver(caf::make_error(entity_errc::crashed, what));
      }
    }
    st.deciding.clear();
    // Commands not yet decided stay unanswered: the host gives them to the next incarnation.
    return caf::make_error(entity_errc::crashed, what);
  }
};

/// Spawns one entity of `Traits` for `id` (used by its host). It starts when its first message
/// arrives (lazy_init), so that the command its host hands it is in its mailbox before it decides
/// whether to read its stream: a worker that ran it earlier would find its mailbox empty and read
/// a stream its command may start. A host with nothing to hand it sends wake_atom.
template <class Traits>
caf::actor spawn_entity(caf::actor_system& sys, Traits traits, const std::string& id,
                        caf::actor host, supervised<persistence::journal_actor> journal,
                        persistence::reader_actor reader, host_settings settings) {
  return sys.spawn<caf::lazy_init>(
      [](caf::stateful_actor<entity_state<Traits>>* self, Traits t, std::string i, caf::actor h,
         supervised<persistence::journal_actor> j, persistence::reader_actor r, host_settings s) {
        return entity_runtime<Traits>::make(self, std::move(t), std::move(i), std::move(h),
                                            std::move(j), std::move(r), s);
      },
      std::move(traits), id, std::move(host), std::move(journal), std::move(reader), settings);
}

} // namespace ordermesh::actors::runtime
