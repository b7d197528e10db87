#pragma once

#include "config/config.hpp"
#include "persistence/event.hpp"
#include "persistence/result.hpp"
#include "persistence/store_health.hpp"
#include "persistence/written_versions.hpp"

#include <chrono>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace ordermesh::persistence {

/// The event store on PostgreSQL, over one connection. Blocking: call it from a detached actor or a
/// plain thread, never from CAF's cooperative scheduler threads. Not thread-safe.
///
/// A lost connection is re-established on the next call; failed attempts back off exponentially
/// (reconnect_min doubling up to reconnect_max), and calls inside the back-off window fail at once
/// with store_errc::unavailable. No method throws.
/// What read_log_of_types read: the events (without metadata), and the log's end as the same read
/// saw it (the checkpoint after the last event of any type it could return; none if the log is
/// empty).
struct typed_log_page {
  std::vector<recorded_event> events;
  std::optional<log_checkpoint> log_end;
};

class pg_event_store {
public:
  pg_event_store(config::pg_config pg, config::journal_config journal);
  ~pg_event_store();
  pg_event_store(const pg_event_store&) = delete;
  pg_event_store& operator=(const pg_event_store&) = delete;

  /// Applies the migrations not yet recorded in schema_migrations, in version order, each in its
  /// own transaction under an advisory lock, so that processes starting together apply each once.
  store_result<std::vector<int>> migrate();

  /// Appends every request in one statement and one transaction (one round trip; a second one
  /// only if a stream is past its expected version). Each request commits or conflicts on its
  /// own; results are in request order. Streams must be distinct.
  /// Rows are locked in stream_id order, so concurrent batches never deadlock each other; a
  /// batch the server still rolls back (deadlock, serialization failure) is run again a few
  /// times (as is any statement), then answered unavailable.
  /// An error means nothing was acknowledged: unavailable/rejected (nothing written) or
  /// outcome_unknown (the commit may have happened).
  store_result<std::vector<append_result>> append(const std::vector<stream_append>& batch);

  /// Events of one stream with version >= from_version, ascending, at most max_count.
  store_result<std::vector<recorded_event>> read_stream(const std::string& stream_id,
                                                        int64_t from_version, int32_t max_count);

  /// The stream's latest snapshot, if any, and its first `max_count` events after it
  /// (ascending): one statement. Fewer than max_count events: the whole stream was read.
  store_result<stream_history> recover(const std::string& stream_id, int32_t max_count);

  /// The stream's last version (no_stream if it has no events).
  store_result<int64_t> stream_version(const std::string& stream_id);

  /// Keeps `s` as the stream's snapshot unless a newer one is already stored.
  store_result<done> save_snapshot(const snapshot& s);

  /// The stream's latest snapshot, if any.
  store_result<std::optional<snapshot>> load_snapshot(const std::string& stream_id);

  /// Up to max_count events after `after` in (transaction_id, position) order, only of
  /// transactions below the reading snapshot's xmin: every one of those has ended, and every
  /// transaction writing later has a higher id, so no event can ever appear before the last one
  /// returned. One statement. Read through a `subscription`, which keeps the checkpoint.
  store_result<std::vector<recorded_event>> read_log(const log_checkpoint& after,
                                                     int32_t max_count);

  /// read_log of the events of `types` only (the others are passed over in the server, never
  /// sent), without their metadata (recorded_event::metadata is left empty), with the log's end
  /// in the same snapshot: when fewer than `max_count` came, every event of the types up to it has
  /// been read (subscription moves past the others).
  store_result<typed_log_page> read_log_of_types(const log_checkpoint& after, int32_t max_count,
                                                 const std::vector<std::string>& types);

  /// The checkpoint after the last event that read_log could return now ({0, 0} if none): where
  /// a subscription starts to see only what is written from now on.
  store_result<log_checkpoint> log_end();

  /// Streams named `prefix`... that recorded `started_type` but none of `finished_types`, e.g. the
  /// orders whose saga is still open. An entry "<type>?<key>" counts only an event of that type
  /// whose payload has the top-level key (e.g. a confirmation naming its SKUs).
  store_result<std::vector<std::string>>
  unfinished_streams(const std::string& prefix, const std::string& started_type,
                     const std::vector<std::string>& finished_types);

  /// A subscription's stored checkpoint ({0, 0} if none).
  store_result<log_checkpoint> load_checkpoint(const std::string& subscription);

  /// Stores a subscription's checkpoint, unless the stored one is further (a lagging process
  /// sharing the subscription never moves it back).
  store_result<done> save_checkpoint(const std::string& subscription,
                                     const log_checkpoint& checkpoint);

  /// Whether a connection is currently open (it may still turn out broken on next use).
  bool connected() const;

  /// From now on, records every call's success or failure to reach the database in `health`.
  void report_health_to(std::shared_ptr<store_health> health) { health_ = std::move(health); }

  /// Makes its connections keep one generic plan per prepared statement instead of planning each
  /// execution (plan_cache_mode = force_generic_plan): for a writer that only appends, whose
  /// append statements are built to have a good generic plan (append_statement()). Call it before
  /// the first statement.
  void plan_statements_once() { plan_once_ = true; }

  /// From now on, records the versions its appends commit in `versions` and skips the
  /// predecessor look-up of an append whose expected version is known there (the writers of one
  /// journal share one). Without it, the store keeps its own.
  void share_written_versions(std::shared_ptr<written_versions> versions) {
    written_ = std::move(versions);
  }

  /// The statement append() prepares on each connection and runs first (a plain INSERT), for
  /// tests that look at its plan. Its parameters, arrays with one element per event: stream ids
  /// (text[]), versions (bigint[]), types (text[]), schema versions (integer[]), payloads and
  /// metadata (jsonb[]), the stream's expected version (bigint[]), and whether that version is
  /// known to be committed (boolean[]).
  static const std::string& append_statement();

  /// The statement append() runs instead when append_statement() found a stream past its
  /// expected version (nothing written): the same parameters, each stale stream a version
  /// conflict alone.
  static const std::string& checked_append_statement();

  /// The libpq connection string for `pg` (password included: never log it).
  static std::string connection_string(const config::pg_config& pg);

private:
  template <class T, class Body>
  store_result<T> with_connection(const char* what, bool writes, Body&& body);
  template <class T, class Body>
  store_result<T> attempt(const char* what, bool writes, Body&& body);
  store_error connect_if_needed();
  void drop_connection();

  config::pg_config pg_;
  config::journal_config journal_;
  struct session; // the open pqxx connection
  std::unique_ptr<session> conn_;
  std::chrono::milliseconds backoff_;
  std::chrono::steady_clock::time_point next_attempt_;
  std::shared_ptr<store_health> health_;
  bool plan_once_ = false;
  std::shared_ptr<written_versions> written_ = std::make_shared<written_versions>();
  std::minstd_rand jitter_{std::random_device{}()};
};

} // namespace ordermesh::persistence
