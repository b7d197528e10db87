#include "persistence/pg_event_store.hpp"

#include "persistence/migrations.hpp"
#include "persistence/sql_array.hpp"

#include <pqxx/pqxx>

#include <algorithm>
#include <map>
#include <set>
#include <thread>
#include <unordered_map>

namespace ordermesh::persistence {

namespace {

// One statement appends the whole batch; its parameters are one array per column, sent in binary
// (no literal to parse), one element per event: stream ids, versions, types, schema versions,
// payloads, metadata, the stream's expected version and whether that version is known to be
// committed (written_versions). The arrays are unnested in the select list (zipped in lockstep, in
// array order, with no tuplestore in between, unlike unnest() in FROM) and nothing in the plan
// reorders them: events come sorted by stream id and go in in that order, so every writer takes
// the streams' index entries in the same order, and two batches sharing streams queue on each
// other and never deadlock (one that still does is run again).
//
// append_sql, the usual case: a plain INSERT. Per stream, its events go in only if the stream is
// at the expected version: version 1, or its predecessor is known to be committed, or it exists
// (one index probe). A stream already past the expected version (a stale append, or another
// writer that got there first) makes the unique index refuse the whole statement, and nothing is
// written; the batch then runs as append_checked_sql.
// append_checked_sql: per stream, the first event is inserted only under the same condition and
// if nobody holds that version (ON CONFLICT DO NOTHING, which probes the unique index once more
// per stream and makes a concurrent writer wait, then do nothing); the stream's later events
// follow only if its first went in. So each stale append gets its version conflict alone and the
// rest of the batch commits.
// Both answer one row (stream id, position) per event written. Prepared once per connection, so
// their plan may be a generic one, made once whatever the table holds then: the predecessor check
// is an EXISTS with OFFSET 0, which PostgreSQL can neither turn into a hashed scan of the whole
// table nor a join, so it stays one index probe per event however the table grows.
const std::string insert_events = R"sql(
INSERT INTO events (stream_id, stream_version, event_type, schema_version, payload, metadata)
SELECT e.stream_id, e.stream_version, e.event_type, e.schema_version, e.payload, e.metadata
)sql";

const std::string batch_events = R"sql(
(SELECT unnest($1::text[]) AS stream_id, unnest($2::bigint[]) AS stream_version,
        unnest($3::text[]) AS event_type, unnest($4::integer[]) AS schema_version,
        unnest($5::jsonb[]) AS payload, unnest($6::jsonb[]) AS metadata,
        unnest($7::bigint[]) AS expected, unnest($8::boolean[]) AS predecessor_known) AS e
)sql";

const std::string at_expected_version = R"sql(
(e.expected = 0 OR e.predecessor_known
 OR EXISTS (SELECT FROM events x
            WHERE x.stream_id = e.stream_id AND x.stream_version = e.expected OFFSET 0))
)sql";

const std::string append_sql = insert_events + "FROM " + batch_events + "WHERE " +
                               at_expected_version + "RETURNING stream_id, global_position";

const std::string append_checked_sql = "WITH ev AS (SELECT * FROM " + batch_events + R"sql(),
first_inserted AS ()sql" + insert_events +
                                       R"sql(
  FROM ev e WHERE e.stream_version = e.expected + 1 AND )sql" +
                                       at_expected_version + R"sql(
  ON CONFLICT (stream_id, stream_version) DO NOTHING
  RETURNING stream_id, global_position
),
rest_inserted AS ()sql" + insert_events +
                                       R"sql(
  FROM ev e
  WHERE e.stream_version > e.expected + 1 AND e.stream_id IN (SELECT stream_id FROM first_inserted)
  RETURNING stream_id, global_position
)
SELECT * FROM first_inserted UNION ALL SELECT * FROM rest_inserted
)sql";

constexpr const char* stream_versions_sql = R"sql(
SELECT stream_id, max(stream_version) FROM events WHERE stream_id = ANY($1::text[]) GROUP BY stream_id
)sql";

// The columns to_event reads, `metadata` the expression for its metadata column.
std::string event_columns_with(const std::string& metadata) {
  return R"sql(
  e.global_position, e.stream_id, e.stream_version, e.event_type, e.schema_version,
  e.payload::text, )sql" +
         metadata + R"sql(, (extract(epoch FROM e.recorded_at) * 1000000)::bigint,
  e.transaction_id::text
)sql";
}

const std::string event_columns = event_columns_with("e.metadata::text");

const std::string read_stream_sql = std::string{"SELECT "} + event_columns + R"sql(
FROM events e WHERE e.stream_id = $1 AND e.stream_version >= $2 ORDER BY e.stream_version LIMIT $3
)sql";

// The stream's snapshot (a row whose first column is set) and the first $2 events after it
// (rows whose first columns are NULL), in one round trip.
const std::string recover_sql = std::string{R"sql(
WITH s AS (SELECT stream_version, snapshot_type, schema_version, payload::text AS payload
           FROM snapshots WHERE stream_id = $1)
SELECT s.stream_version, s.snapshot_type, s.schema_version, s.payload,
       NULL::bigint, NULL::text, NULL::bigint, NULL::text, NULL::integer, NULL::text, NULL::text,
       NULL::bigint, NULL::text
FROM s
UNION ALL
(SELECT NULL::bigint, NULL::text, NULL::integer, NULL::text, )sql"} +
                                event_columns + R"sql(
 FROM events e
 WHERE e.stream_id = $1 AND e.stream_version > coalesce((SELECT stream_version FROM s), 0)
 ORDER BY e.stream_version LIMIT $2)
)sql";

// Only transactions below the statement's own snapshot xmin (pg_current_snapshot() is the active
// snapshot, the one the rows are read in): they have all ended, and any later writer's id is at
// least that xmin. So the rows taken are final and no row can later appear before them.
constexpr const char* final_transactions = R"sql(
  e.transaction_id < (SELECT pg_snapshot_xmin(pg_current_snapshot()))
)sql";

const std::string read_log_sql = std::string{"SELECT "} + event_columns + R"sql(
FROM events e
WHERE (e.transaction_id, e.global_position) > ($1::xid8, $2) AND )sql" +
                                 final_transactions + R"sql(
ORDER BY e.transaction_id, e.global_position LIMIT $3
)sql";

// read_log_sql for some event types only, without the metadata (no typed reader uses it: turning
// its jsonb back into text was most of such a read's work): the rows of other types are passed
// over in the server. A last row (its 10th column set) carries the log's end in the same snapshot
// (log_end_sql's row): with fewer rows than the limit, every row of the types up to it has been
// read. No index serves the type filter: the rows come in (transaction_id, position) order from
// events_transaction_position_idx, and an index on (event_type, transaction_id, global_position)
// cannot give that order for `= ANY`: on a bench/orders journal the projection's read of 2 000
// rows (a quarter of those scanned passed over) did not use it, and the settlement runner's one
// type became a bitmap scan and a sort, 40 ms against 9 ms; every append would pay for it.
const std::string read_log_of_types_sql = "(SELECT " + event_columns_with("''::text") +
                                          R"sql(, NULL::text
 FROM events e
 WHERE (e.transaction_id, e.global_position) > ($1::xid8, $2)
   AND e.event_type = ANY($4::text[]) AND )sql" +
                                          final_transactions + R"sql(
 ORDER BY e.transaction_id, e.global_position LIMIT $3)
UNION ALL
SELECT l.global_position, NULL::text, NULL::bigint, NULL::text, NULL::integer, NULL::text,
       NULL::text, NULL::bigint, l.transaction_id::text, 'log end'
FROM (SELECT e.global_position, e.transaction_id FROM events e WHERE )sql" +
                                          final_transactions + R"sql(
      ORDER BY e.transaction_id DESC, e.global_position DESC LIMIT 1) l
)sql";

const std::string log_end_sql = std::string{R"sql(
SELECT e.transaction_id::text, e.global_position FROM events e WHERE )sql"} +
                                final_transactions + R"sql(
ORDER BY e.transaction_id DESC, e.global_position DESC LIMIT 1
)sql";

constexpr int64_t migration_lock_key = 0x6f6d6d6967; // "ommig"

/// How often a statement the server rolled back (deadlock, serialization failure) is run again.
constexpr int rollback_retries = 4;

recorded_event to_event(const pqxx::row& row, int first) {
  recorded_event e;
  e.global_position = row[first].as<int64_t>();
  e.stream_id = row[first + 1].as<std::string>();
  e.stream_version = row[first + 2].as<int64_t>();
  e.type = row[first + 3].as<std::string>();
  e.schema_version = row[first + 4].as<int32_t>();
  e.payload = row[first + 5].as<std::string>();
  e.metadata = row[first + 6].as<std::string>();
  e.recorded_at_us = row[first + 7].as<int64_t>();
  e.transaction_id = row[first + 8].as<uint64_t>();
  return e;
}

std::string quote_conninfo(const std::string& value) {
  std::string out = "'";
  for (char c : value) {
    if (c == '\'' || c == '\\') {
      out += '\\';
    }
    out += c;
  }
  out += '\'';
  return out;
}

} // namespace

struct pg_event_store::session {
  pqxx::connection connection;
};

pg_event_store::pg_event_store(config::pg_config pg, config::journal_config journal)
    : pg_(std::move(pg)), journal_(journal), backoff_(journal_.reconnect_min),
      next_attempt_(std::chrono::steady_clock::now()) {}

pg_event_store::~pg_event_store() = default;

std::string pg_event_store::connection_string(const config::pg_config& pg) {
  auto timeout_s = std::max<int64_t>(2, (pg.connect_timeout.count() + 999) / 1000);
  std::string s = "host=" + quote_conninfo(pg.host) + " port=" + std::to_string(pg.port) +
                  " dbname=" + quote_conninfo(pg.dbname) + " user=" + quote_conninfo(pg.user) +
                  " connect_timeout=" + std::to_string(timeout_s) +
                  " application_name=ordermesh keepalives=1 keepalives_idle=5"
                  " keepalives_interval=2 keepalives_count=3";
  if (!pg.password.empty()) {
    s += " password=" + quote_conninfo(pg.password.reveal());
  }
  return s;
}

const std::string& pg_event_store::append_statement() {
  return append_sql;
}

const std::string& pg_event_store::checked_append_statement() {
  return append_checked_sql;
}

bool pg_event_store::connected() const {
  return conn_ != nullptr && conn_->connection.is_open();
}

void pg_event_store::drop_connection() {
  conn_.reset();
}

store_error pg_event_store::connect_if_needed() {
  if (conn_ && conn_->connection.is_open()) {
    return {};
  }
  conn_.reset();
  auto now = std::chrono::steady_clock::now();
  if (now < next_attempt_) {
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(next_attempt_ - now);
    return {store_errc::unavailable, "database unreachable; next connection attempt in " +
                                         std::to_string(wait.count()) + " ms"};
  }
  try {
    auto conn = std::unique_ptr<session>(new session{pqxx::connection{connection_string(pg_)}});
    if (plan_once_) {
      // PostgreSQL's default (auto) keeps planning the append: a custom plan of a one-row batch
      // looks cheaper than the generic plan's guess of ten rows, so it never switches (about
      // 0.2 ms per lone append).
      pqxx::nontransaction tx{conn->connection};
      tx.exec0("SET plan_cache_mode = force_generic_plan");
    }
    conn->connection.prepare("append", append_sql);
    conn->connection.prepare("append_checked", append_checked_sql);
    conn->connection.prepare("stream_versions", stream_versions_sql);
    conn->connection.prepare("read_stream", read_stream_sql);
    conn->connection.prepare("recover", recover_sql);
    conn->connection.prepare("read_log", read_log_sql);
    conn->connection.prepare("read_log_of_types", read_log_of_types_sql);
    conn->connection.prepare("log_end", log_end_sql);
    conn_ = std::move(conn);
    backoff_ = journal_.reconnect_min;
    return {};
  } catch (const std::exception& e) {
    next_attempt_ = now + backoff_;
    backoff_ = std::min(backoff_ * 2, journal_.reconnect_max);
    // libpq's message names host and port but never the password.
    std::string detail = e.what();
    while (!detail.empty() && (detail.back() == '\n' || detail.back() == ' ')) {
      detail.pop_back();
    }
    return {store_errc::unavailable, "cannot connect to PostgreSQL: " + detail};
  }
}

template <class T, class Body>
store_result<T> pg_event_store::with_connection(const char* what, bool writes, Body&& body) {
  auto result = attempt<T>(what, writes, std::forward<Body>(body));
  if (health_) {
    if (result) {
      health_->record_success();
    } else {
      health_->record_failure(result.error());
    }
  }
  return result;
}

template <class T, class Body>
store_result<T> pg_event_store::attempt(const char* what, bool writes, Body&& body) {
  if (auto err = connect_if_needed(); err.code != store_errc::nil) {
    return err;
  }
  auto failed = [&](std::string_view sqlstate, const std::exception& e) {
    bool open = conn_ && conn_->connection.is_open();
    auto code = classify_failure(sqlstate, open, writes);
    if (code != store_errc::rejected && !(open && rolled_back(sqlstate))) {
      drop_connection();
    }
    return store_error{code, std::string{what} + ": " + e.what()};
  };
  try {
    // A deadlock or serialization failure rolled the whole transaction back: nothing was
    // written, so running it again is safe; a short random pause lets the other one finish.
    // (libpqxx 6 throws these as transaction_rollback, not sql_error: no sqlstate to read.)
    for (int retry = 0;; ++retry) {
      try {
        return body(conn_->connection);
      } catch (const pqxx::deadlock_detected& e) {
        if (retry == rollback_retries || !conn_->connection.is_open()) {
          return failed("40P01", e);
        }
      } catch (const pqxx::serialization_failure& e) {
        if (retry == rollback_retries || !conn_->connection.is_open()) {
          return failed("40001", e);
        }
      }
      std::uniform_int_distribution<int> pause_ms{1, 10 << retry};
      std::this_thread::sleep_for(std::chrono::milliseconds(pause_ms(jitter_)));
    }
  } catch (const pqxx::in_doubt_error& e) {
    drop_connection();
    return store_error{store_errc::outcome_unknown, std::string{what} + ": " + e.what()};
  } catch (const pqxx::sql_error& e) {
    return failed(e.sqlstate(), e);
  } catch (const std::exception& e) {
    // broken_connection and anything else libpqxx throws without a server answer.
    drop_connection();
    return failed("", e);
  }
}

store_result<std::vector<int>> pg_event_store::migrate() {
  std::string journal_ahead; // why the journal cannot be served by this server, if it cannot
  auto migrated = with_connection<std::vector<int>>("migrate", true, [&](pqxx::connection& c) {
    std::vector<int> applied;
    pqxx::work tx{c};
    tx.exec_params("SELECT pg_advisory_xact_lock($1)", migration_lock_key);
    tx.exec0("CREATE TABLE IF NOT EXISTS schema_migrations ("
             " version integer PRIMARY KEY, name text NOT NULL,"
             " applied_at timestamptz NOT NULL DEFAULT clock_timestamp())");
    std::set<int> done_versions;
    for (const auto& row : tx.exec("SELECT version FROM schema_migrations")) {
      done_versions.insert(row[0].as<int>());
    }
    for (const auto& m : migrations()) {
      if (done_versions.count(m.version) > 0) {
        continue;
      }
      tx.exec0(m.sql);
      tx.exec_params0("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", m.version,
                      m.name);
      applied.push_back(m.version);
    }
    // Subscribers order events by writing transaction: a journal whose ids this server has not
    // reached yet (a dump restored onto another server, a switchover) would make new events sort
    // before their checkpoints, skipped for good. Refuse it rather than lose events silently.
    auto ahead =
        tx.exec("SELECT transaction_id::text, pg_snapshot_xmax(pg_current_snapshot())::text"
                " FROM events WHERE transaction_id >= "
                "pg_snapshot_xmax(pg_current_snapshot()) LIMIT 1");
    if (!ahead.empty()) {
      journal_ahead =
          "migrate: events were written under transaction id " + ahead[0][0].as<std::string>() +
          ", which this server has not reached (its next is " + ahead[0][1].as<std::string>() +
          "): the database was restored onto another server; subscribers would skip new events. "
          "Rebase events.transaction_id and subscription_checkpoints.transaction_id to 0 with no "
          "writer running, then start again";
    }
    tx.commit();
    return applied;
  });
  if (migrated && !journal_ahead.empty()) {
    return store_error{store_errc::invalid_request, std::move(journal_ahead)};
  }
  return migrated;
}

store_result<std::vector<append_result>>
pg_event_store::append(const std::vector<stream_append>& batch) {
  std::vector<append_result> results(batch.size());
  if (batch.empty()) {
    return results;
  }
  // The appends in stream id order (the order the statement inserts in, and where a row's
  // stream is looked up).
  std::vector<size_t> order(batch.size());
  size_t events = 0;
  for (size_t i = 0; i < batch.size(); ++i) {
    if (auto why = invalid_append(batch[i]); !why.empty()) {
      return store_error{store_errc::invalid_request, std::move(why)};
    }
    order[i] = i;
    events += batch[i].events.size();
  }
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return batch[a].stream_id < batch[b].stream_id; });
  for (size_t k = 1; k < order.size(); ++k) {
    if (batch[order[k]].stream_id == batch[order[k - 1]].stream_id) {
      return store_error{store_errc::invalid_request, "append: stream " +
                                                          batch[order[k]].stream_id +
                                                          " appears twice in one batch"};
    }
  }
  using element = binary_array::element;
  binary_array stream_ids{element::text, events}, versions{element::int8, events},
      types{element::text, events}, schema_versions{element::int4, events},
      payloads{element::jsonb, events}, metadata{element::jsonb, events},
      expected{element::int8, events}, known{element::boolean, events};
  for (size_t i : order) {
    const auto& req = batch[i];
    const bool predecessor_known =
        req.expected_version > 0 && written_->known(req.stream_id, req.expected_version);
    int64_t version = req.expected_version;
    for (const auto& e : req.events) {
      stream_ids.add(req.stream_id);
      versions.add_int8(++version);
      types.add(e.type);
      schema_versions.add_int4(e.schema_version);
      payloads.add(e.payload);
      metadata.add(e.metadata);
      expected.add_int8(req.expected_version);
      known.add_bool(predecessor_known);
    }
  }
  auto param = [](const binary_array& a) {
    return pqxx::binarystring{a.bytes().data(), a.bytes().size()};
  };
  const std::vector<pqxx::binarystring> params{
      param(stream_ids), param(versions), param(types),    param(schema_versions),
      param(payloads),   param(metadata), param(expected), param(known)};
  auto run = [&](pqxx::connection& c, const char* statement) {
    pqxx::nontransaction tx{c};
    return tx.exec_prepared(statement, params[0], params[1], params[2], params[3], params[4],
                            params[5], params[6], params[7]);
  };
  auto written = with_connection<pqxx::result>("append", true, [&](pqxx::connection& c) {
    try {
      return run(c, "append");
    } catch (const pqxx::unique_violation&) {
      // A stream is past its expected version: nothing was written. Again, stream by stream.
    }
    return run(c, "append_checked");
  });
  if (!written) {
    return written.error();
  }
  // One row per event written, a stream's in version order.
  std::vector<bool> committed(batch.size(), false);
  for (const auto& row : *written) {
    const std::string_view stream{row[0].c_str(), row[0].size()};
    auto at =
        std::lower_bound(order.begin(), order.end(), stream,
                         [&](size_t i, std::string_view s) { return batch[i].stream_id < s; });
    if (at == order.end() || batch[*at].stream_id != stream) {
      return store_error{store_errc::outcome_unknown,
                         "append: the database answered a stream not in the batch: " +
                             std::string{stream}};
    }
    const size_t i = *at;
    const auto position = row[1].as<int64_t>();
    auto& r = results[i];
    if (!committed[i]) {
      committed[i] = true;
      r = append_result{append_status::committed,
                        batch[i].expected_version + static_cast<int64_t>(batch[i].events.size()),
                        position, position};
      written_->record(batch[i].stream_id, r.stream_version);
    }
    r.first_position = std::min(r.first_position, position);
    r.last_position = std::max(r.last_position, position);
  }
  std::vector<std::string> conflicted;
  for (size_t i = 0; i < batch.size(); ++i) {
    if (!committed[i]) {
      conflicted.push_back(batch[i].stream_id);
      results[i] = append_result{append_status::version_conflict, -1, 0, 0};
    }
  }
  if (conflicted.empty()) {
    return results;
  }
  // The commit is done; the actual versions are a courtesy to the stale writers (-1 if unknown).
  auto actual = with_connection<pqxx::result>("stream versions", false, [&](pqxx::connection& c) {
    pqxx::nontransaction tx{c};
    return tx.exec_prepared("stream_versions", sql_text_array(conflicted));
  });
  if (actual) {
    std::unordered_map<std::string, size_t> index_of;
    for (size_t i = 0; i < batch.size(); ++i) {
      index_of.emplace(batch[i].stream_id, i);
    }
    for (auto& name : conflicted) {
      results[index_of.at(name)].stream_version = no_stream;
    }
    for (const auto& row : *actual) {
      results[index_of.at(row[0].as<std::string>())].stream_version = row[1].as<int64_t>();
    }
  }
  return results;
}

store_result<std::vector<recorded_event>>
pg_event_store::read_stream(const std::string& stream_id, int64_t from_version, int32_t max_count) {
  return with_connection<std::vector<recorded_event>>(
      "read stream", false, [&](pqxx::connection& c) {
        pqxx::nontransaction tx{c};
        std::vector<recorded_event> events;
        for (const auto& row :
             tx.exec_prepared("read_stream", stream_id, from_version, max_count)) {
          events.push_back(to_event(row, 0));
        }
        return events;
      });
}

store_result<stream_history> pg_event_store::recover(const std::string& stream_id,
                                                     int32_t max_count) {
  return with_connection<stream_history>("recover stream", false, [&](pqxx::connection& c) {
    pqxx::nontransaction tx{c};
    stream_history history;
    for (const auto& row : tx.exec_prepared("recover", stream_id, max_count)) {
      if (!row[0].is_null()) {
        history.has_snapshot = true;
        history.latest_snapshot =
            snapshot{stream_id, row[0].as<int64_t>(), row[1].as<std::string>(),
                     row[2].as<int32_t>(), row[3].as<std::string>()};
      } else {
        history.events.push_back(to_event(row, 4));
      }
    }
    // UNION ALL keeps no order between its parts: the events sorted by version, whatever came.
    std::sort(history.events.begin(), history.events.end(),
              [](const recorded_event& a, const recorded_event& b) {
                return a.stream_version < b.stream_version;
              });
    return history;
  });
}

store_result<int64_t> pg_event_store::stream_version(const std::string& stream_id) {
  return with_connection<int64_t>("stream version", false, [&](pqxx::connection& c) {
    pqxx::nontransaction tx{c};
    auto r = tx.exec_params1(
        "SELECT coalesce(max(stream_version), 0) FROM events WHERE stream_id = $1", stream_id);
    return r[0].as<int64_t>();
  });
}

store_result<done> pg_event_store::save_snapshot(const snapshot& s) {
  return with_connection<done>("save snapshot", true, [&](pqxx::connection& c) {
    pqxx::nontransaction tx{c};
    tx.exec_params0(R"sql(
INSERT INTO snapshots (stream_id, stream_version, snapshot_type, schema_version, payload)
VALUES ($1, $2, $3, $4, $5::jsonb)
ON CONFLICT (stream_id) DO UPDATE
  SET stream_version = excluded.stream_version, snapshot_type = excluded.snapshot_type,
      schema_version = excluded.schema_version, payload = excluded.payload,
      recorded_at = clock_timestamp()
  WHERE snapshots.stream_version < excluded.stream_version
)sql",
                    s.stream_id, s.stream_version, s.type, s.schema_version, s.payload);
    return done{};
  });
}

store_result<std::optional<snapshot>> pg_event_store::load_snapshot(const std::string& stream_id) {
  return with_connection<std::optional<snapshot>>(
      "load snapshot", false, [&](pqxx::connection& c) -> std::optional<snapshot> {
        pqxx::nontransaction tx{c};
        auto r =
            tx.exec_params("SELECT stream_version, snapshot_type, schema_version, payload::text"
                           " FROM snapshots WHERE stream_id = $1",
                           stream_id);
        if (r.empty()) {
          return std::nullopt;
        }
        return snapshot{stream_id, r[0][0].as<int64_t>(), r[0][1].as<std::string>(),
                        r[0][2].as<int32_t>(), r[0][3].as<std::string>()};
      });
}

store_result<std::vector<recorded_event>> pg_event_store::read_log(const log_checkpoint& after,
                                                                   int32_t max_count) {
  return with_connection<std::vector<recorded_event>>("read log", false, [&](pqxx::connection& c) {
    pqxx::nontransaction tx{c};
    std::vector<recorded_event> events;
    for (const auto& row : tx.exec_prepared("read_log", std::to_string(after.transaction_id),
                                            after.position, max_count)) {
      events.push_back(to_event(row, 0));
    }
    return events;
  });
}

store_result<typed_log_page>
pg_event_store::read_log_of_types(const log_checkpoint& after, int32_t max_count,
                                  const std::vector<std::string>& types) {
  return with_connection<typed_log_page>("read log", false, [&](pqxx::connection& c) {
    pqxx::nontransaction tx{c};
    typed_log_page page;
    for (const auto& row :
         tx.exec_prepared("read_log_of_types", std::to_string(after.transaction_id), after.position,
                          max_count, sql_text_array(types))) {
      if (!row[9].is_null()) {
        page.log_end = log_checkpoint{row[8].as<uint64_t>(), row[0].as<int64_t>()};
        continue;
      }
      page.events.push_back(to_event(row, 0)); // its metadata empty: not read
    }
    return page;
  });
}

store_result<log_checkpoint> pg_event_store::log_end() {
  return with_connection<log_checkpoint>("log end", false, [&](pqxx::connection& c) {
    pqxx::nontransaction tx{c};
    auto r = tx.exec_prepared("log_end");
    if (r.empty()) {
      return log_checkpoint{};
    }
    return log_checkpoint{r[0][0].as<uint64_t>(), r[0][1].as<int64_t>()};
  });
}

store_result<std::vector<std::string>>
pg_event_store::unfinished_streams(const std::string& prefix, const std::string& started_type,
                                   const std::vector<std::string>& finished_types) {
  return with_connection<std::vector<std::string>>(
      "unfinished streams", false, [&](pqxx::connection& c) {
        std::vector<std::string> types, keyed_types, keys;
        for (const auto& t : finished_types) {
          auto mark = t.find('?');
          if (mark == std::string::npos) {
            types.push_back(t);
          } else {
            keyed_types.push_back(t.substr(0, mark));
            keys.push_back(t.substr(mark + 1));
          }
        }
        pqxx::nontransaction tx{c};
        auto r = tx.exec_params(R"sql(
SELECT s.stream_id FROM events s
WHERE s.event_type = $2 AND starts_with(s.stream_id, $1)
  AND NOT EXISTS (SELECT 1 FROM events f
                  WHERE f.stream_id = s.stream_id
                    AND (f.event_type = ANY($3::text[])
                         OR EXISTS (SELECT 1 FROM unnest($4::text[], $5::text[]) AS k(type, key)
                                    WHERE f.event_type = k.type AND f.payload ? k.key)))
ORDER BY s.global_position
)sql",
                                prefix, started_type, sql_text_array(types),
                                sql_text_array(keyed_types), sql_text_array(keys));
        std::vector<std::string> streams;
        for (const auto& row : r) {
          streams.push_back(row[0].as<std::string>());
        }
        return streams;
      });
}

store_result<log_checkpoint> pg_event_store::load_checkpoint(const std::string& subscription) {
  return with_connection<log_checkpoint>("load checkpoint", false, [&](pqxx::connection& c) {
    pqxx::nontransaction tx{c};
    auto r = tx.exec_params("SELECT transaction_id::text, position FROM subscription_checkpoints"
                            " WHERE subscription = $1",
                            subscription);
    if (r.empty()) {
      return log_checkpoint{};
    }
    return log_checkpoint{r[0][0].as<uint64_t>(), r[0][1].as<int64_t>()};
  });
}

store_result<done> pg_event_store::save_checkpoint(const std::string& subscription,
                                                   const log_checkpoint& checkpoint) {
  return with_connection<done>("save checkpoint", true, [&](pqxx::connection& c) {
    pqxx::nontransaction tx{c};
    tx.exec_params0(R"sql(
INSERT INTO subscription_checkpoints (subscription, transaction_id, position)
VALUES ($1, $2::xid8, $3)
ON CONFLICT (subscription) DO UPDATE
  SET transaction_id = excluded.transaction_id, position = excluded.position,
      updated_at = clock_timestamp()
  WHERE (subscription_checkpoints.transaction_id, subscription_checkpoints.position)
      < (excluded.transaction_id, excluded.position)
)sql",
                    subscription, std::to_string(checkpoint.transaction_id), checkpoint.position);
    return done{};
  });
}

} // namespace ordermesh::persistence
