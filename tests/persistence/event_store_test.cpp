#define BOOST_TEST_MODULE event_store
#include <boost/test/unit_test.hpp>

#include "persistence/migrations.hpp"
#include "persistence/pg_event_store.hpp"
#include "persistence/subscription.hpp"
#include "tests/support/pg_test_database.hpp"

#include <pqxx/pqxx>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <optional>
#include <set>
#include <thread>

using namespace ordermesh;
using namespace ordermesh::persistence;

namespace {

struct store_fixture {
  testing::pg_test_database db;
  pg_event_store store{db.pg(), db.config().journal};
};

new_event counter_added(int amount) {
  return new_event{"counter.added.v1", 1, nlohmann::json{{"amount", amount}}.dump(),
                   R"({"message_id":"m-)" + std::to_string(amount) + R"("})"};
}

stream_append append_to(std::string stream, int64_t expected, std::vector<int> amounts) {
  stream_append a{std::move(stream), expected, {}};
  for (int x : amounts) {
    a.events.push_back(counter_added(x));
  }
  return a;
}

append_result append_one(pg_event_store& store, stream_append a) {
  auto r = store.append({std::move(a)});
  if (!r) {
    BOOST_FAIL("append failed: " << r.error().detail);
  }
  BOOST_REQUIRE_EQUAL(r->size(), 1u);
  return r->front();
}

/// Waits (up to 10 s) until `at_least` backends of the database wait on a lock; then evaluates
/// `then` (an SQL expression over pg_stat_activity's columns) for them. Returns whether they were
/// seen.
bool backend_waits_on_a_lock(const config::pg_config& pg, const std::string& then = "pid",
                             size_t at_least = 1) {
  pqxx::connection c{pg_event_store::connection_string(pg)};
  for (int round = 0; round < 1000; ++round) {
    pqxx::nontransaction tx{c};
    if (tx.exec("SELECT " + then +
                " FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock'")
            .size() >= at_least) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

/// The counter aggregate's state: a pure fold over its events.
struct counter_state {
  int64_t total = 0;
  int64_t version = 0;
};

counter_state apply(counter_state s, const recorded_event& e) {
  s.total += nlohmann::json::parse(e.payload).at("amount").get<int64_t>();
  s.version = e.stream_version;
  return s;
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(event_store, store_fixture)

BOOST_AUTO_TEST_CASE(migrations_are_recorded_and_applying_them_again_changes_nothing) {
  BOOST_TEST(db.query_value("SELECT count(*) FROM schema_migrations") ==
             std::to_string(migrations().size()));
  auto again = store.migrate();
  BOOST_REQUIRE(again);
  BOOST_TEST(again->empty());
}

BOOST_AUTO_TEST_CASE(a_journal_restored_onto_a_server_behind_its_transaction_ids_is_refused) {
  // A dump restored onto another server (or a switchover) starts that server's transaction
  // counter lower: new events would sort before the subscribers' checkpoints and be skipped for
  // good. The store refuses to start on such a journal instead.
  db.query_value("INSERT INTO events (stream_id, stream_version, event_type, schema_version, "
                 "payload, metadata, transaction_id) VALUES ('restored/1', 1, 'x', 1, '{}', '{}', "
                 "(pg_snapshot_xmax(pg_current_snapshot())::text::bigint + 1000000)::text::xid8) "
                 "RETURNING 1");
  auto again = store.migrate();
  BOOST_REQUIRE(!again);
  BOOST_TEST(again.error().detail.find("transaction id") != std::string::npos,
             again.error().detail);
}

BOOST_AUTO_TEST_CASE(appends_assign_versions_and_increasing_positions) {
  auto r = append_one(store, append_to("counter/a", no_stream, {1, 2, 3}));
  BOOST_TEST((r.status == append_status::committed));
  BOOST_TEST(r.stream_version == 3);
  BOOST_TEST(r.last_position - r.first_position == 2);
  auto events = store.read_stream("counter/a", 1, 100);
  BOOST_REQUIRE(events);
  BOOST_REQUIRE_EQUAL(events->size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    BOOST_TEST((*events)[i].stream_version == static_cast<int64_t>(i + 1));
    BOOST_TEST((*events)[i].global_position == r.first_position + static_cast<int64_t>(i));
    BOOST_TEST((*events)[i].type == "counter.added.v1");
    BOOST_TEST(nlohmann::json::parse((*events)[i].metadata).at("message_id") ==
               "m-" + std::to_string(i + 1));
  }
}

BOOST_AUTO_TEST_CASE(a_stale_writer_gets_a_version_conflict_and_overwrites_nothing) {
  append_one(store, append_to("counter/b", no_stream, {1, 2}));
  auto stale = append_one(store, append_to("counter/b", 1, {100}));
  BOOST_TEST((stale.status == append_status::version_conflict));
  BOOST_TEST(stale.stream_version == 2);
  auto brand_new = append_one(store, append_to("counter/b", no_stream, {100}));
  BOOST_TEST((brand_new.status == append_status::version_conflict));
  auto ahead = append_one(store, append_to("counter/b", 5, {100}));
  BOOST_TEST((ahead.status == append_status::version_conflict));
  auto events = store.read_stream("counter/b", 1, 100);
  BOOST_REQUIRE(events);
  BOOST_TEST(events->size() == 2u);
  BOOST_TEST(events->back().payload == R"({"amount": 2})");
  auto current = append_one(store, append_to("counter/b", 2, {3}));
  BOOST_TEST((current.status == append_status::committed));
  BOOST_TEST(current.stream_version == 3);
}

BOOST_AUTO_TEST_CASE(an_append_whose_predecessor_this_store_wrote_still_conflicts_if_stale) {
  // `store` wrote version 2, so it skips the predecessor look-up of an append expecting 2; another
  // writer (its own memory of versions) went on to 3 meanwhile.
  append_one(store, append_to("counter/k", no_stream, {1, 2}));
  pg_event_store other{db.pg(), db.config().journal};
  BOOST_TEST(
      (append_one(other, append_to("counter/k", 2, {3})).status == append_status::committed));
  auto stale = append_one(store, append_to("counter/k", 2, {100}));
  BOOST_TEST((stale.status == append_status::version_conflict));
  BOOST_TEST(stale.stream_version == 3);
  // A gap stays refused whatever the store remembers.
  auto ahead = append_one(store, append_to("counter/k", 7, {100}));
  BOOST_TEST((ahead.status == append_status::version_conflict));
  auto current = append_one(store, append_to("counter/k", 3, {4}));
  BOOST_TEST((current.status == append_status::committed));
  BOOST_TEST(db.query_value("SELECT string_agg(payload->>'amount', ',' ORDER BY stream_version) "
                            "FROM events WHERE stream_id = 'counter/k'") == "1,2,3,4");
}

BOOST_AUTO_TEST_CASE(a_conflict_in_one_stream_fails_only_that_stream_of_the_batch) {
  append_one(store, append_to("counter/x", no_stream, {1}));
  auto r = store.append({append_to("counter/w", no_stream, {1, 1}),
                         append_to("counter/x", no_stream, {7, 7, 7}), // stale: x is at 1
                         append_to("counter/y", no_stream, {2})});
  BOOST_REQUIRE(r);
  BOOST_TEST(((*r)[0].status == append_status::committed));
  BOOST_TEST(((*r)[1].status == append_status::version_conflict));
  BOOST_TEST((*r)[1].stream_version == 1);
  BOOST_TEST(((*r)[2].status == append_status::committed));
  BOOST_TEST(store.stream_version("counter/w").value() == 2);
  BOOST_TEST(store.stream_version("counter/x").value() == 1);
  BOOST_TEST(store.stream_version("counter/y").value() == 1);
  BOOST_TEST(db.query_value("SELECT count(*) FROM events") == "4");
}

// A batch whose one stream is stale runs twice: the plain INSERT (the usual case, no second
// index probe per stream) is refused as a whole by the unique index and writes nothing, then the
// checked statement commits every other append, once, and gives the stale one its conflict. The
// first statement's only trace is the positions it drew (a sequence is not rolled back).
BOOST_AUTO_TEST_CASE(
    a_batch_with_one_stale_stream_commits_the_others_once_in_its_second_statement) {
  append_one(store, append_to("counter/x", no_stream, {1}));
  auto drawn = [&] {
    return std::stoll(db.query_value("SELECT last_value FROM events_position_seq"));
  };
  const auto before = drawn();
  auto r = store.append({append_to("counter/w", no_stream, {1, 1}),
                         append_to("counter/x", no_stream, {7, 7, 7}), // stale: x is at 1
                         append_to("counter/y", no_stream, {2})});
  BOOST_REQUIRE(r);
  BOOST_TEST(((*r)[0].status == append_status::committed));
  BOOST_TEST(((*r)[1].status == append_status::version_conflict));
  BOOST_TEST(((*r)[2].status == append_status::committed));
  // Committed once: w's two events and y's one, nothing of x's three.
  BOOST_TEST(db.query_value("SELECT count(*) FROM events") == "4");
  BOOST_TEST(db.query_value("SELECT string_agg(stream_id || ':' || stream_version, ',' ORDER BY "
                            "stream_id, stream_version) FROM events") ==
             "counter/w:1,counter/w:2,counter/x:1,counter/y:1");
  // Two statements: the refused one drew positions (w's two rows and x's first, in stream id
  // order) before the unique index refused x's; the committed rows start after them.
  const auto first_statement = (*r)[0].first_position - before - 1;
  BOOST_TEST_MESSAGE("positions drawn by the refused statement: " << first_statement);
  BOOST_TEST(first_statement == 3);
  // The checked statement draws one for each stream's first event (x's is then refused by ON
  // CONFLICT DO NOTHING) and one for each later event of a stream whose first went in.
  BOOST_TEST(drawn() - before == 3 + 4);
}

BOOST_AUTO_TEST_CASE(text_with_quotes_backslashes_braces_and_non_ascii_comes_back_as_written) {
  // The batch travels as arrays: nothing in a stream id, type, payload or metadata may be read
  // as an array's syntax.
  const std::string stream = R"(odd/"{a,b}"\ NULL é)";
  const new_event e{R"(t,y"pe\{})", 7, R"({"s": "q\"uo{t}e,\\ é ☃"})", R"({"m": [1, "}"]})"};
  auto r = store.append(
      {stream_append{stream, no_stream, {e, e}}, append_to("counter/plain", no_stream, {1})});
  BOOST_REQUIRE(r);
  BOOST_TEST(((*r)[0].status == append_status::committed));
  BOOST_TEST((*r)[0].stream_version == 2);
  BOOST_TEST((*r)[0].last_position - (*r)[0].first_position == 1);
  BOOST_TEST(((*r)[1].status == append_status::committed));
  auto events = store.read_stream(stream, 1, 10);
  BOOST_REQUIRE(events);
  BOOST_REQUIRE_EQUAL(events->size(), 2u);
  for (const auto& got : *events) {
    BOOST_TEST(got.stream_id == stream);
    BOOST_TEST(got.type == e.type);
    BOOST_TEST(got.schema_version == 7);
    BOOST_TEST(nlohmann::json::parse(got.payload) == nlohmann::json::parse(e.payload));
    BOOST_TEST(nlohmann::json::parse(got.metadata) == nlohmann::json::parse(e.metadata));
  }
}

BOOST_AUTO_TEST_CASE(a_stream_id_with_a_nul_byte_is_rejected_and_nothing_of_its_batch_is_written) {
  auto r = store.append({append_to(std::string{"nul/a\0b", 7}, no_stream, {1}),
                         append_to("counter/beside-nul", no_stream, {1})});
  BOOST_REQUIRE(!r);
  BOOST_TEST((r.error().code == store_errc::rejected), r.error().detail);
  BOOST_TEST(db.query_value("SELECT count(*) FROM events") == "0");
}

BOOST_AUTO_TEST_CASE(two_appends_to_one_stream_in_one_batch_are_refused) {
  auto r = store.append({append_to("counter/d", no_stream, {1}), append_to("counter/d", 1, {2})});
  BOOST_REQUIRE(!r);
  BOOST_TEST((r.error().code == store_errc::invalid_request));
  BOOST_TEST(db.query_value("SELECT count(*) FROM events") == "0");
}

BOOST_AUTO_TEST_CASE(concurrent_writers_of_one_stream_cannot_both_win) {
  append_one(store, append_to("counter/race", no_stream, {1}));
  pg_event_store other{db.pg(), db.config().journal};
  // The first writer holds version 2 in an open transaction...
  pqxx::connection raw{pg_event_store::connection_string(db.pg())};
  pqxx::work held{raw};
  held.exec0("INSERT INTO events (stream_id, stream_version, event_type, payload) "
             "VALUES ('counter/race', 2, 'counter.added.v1', '{\"amount\": 5}')");
  // ...while the second appends version 2 too: results are collected here, checked below.
  std::optional<store_result<std::vector<append_result>>> outcome;
  std::thread waiting_writer{
      [&] { outcome.emplace(other.append({append_to("counter/race", 1, {9})})); }};
  // They overlap for sure: the second is seen waiting on the first one's row before it commits.
  bool overlapped = backend_waits_on_a_lock(db.pg());
  held.commit();
  waiting_writer.join();
  BOOST_TEST_REQUIRE(overlapped);
  BOOST_TEST_REQUIRE(outcome.has_value());
  BOOST_TEST_REQUIRE(outcome->operator bool(), (*outcome ? "" : outcome->error().detail));
  BOOST_TEST_REQUIRE((*outcome)->size() == 1u);
  BOOST_TEST(((*outcome)->front().status == append_status::version_conflict));
  BOOST_TEST((*outcome)->front().stream_version == 2);
  auto events = store.read_stream("counter/race", 1, 10);
  BOOST_REQUIRE(events);
  BOOST_TEST(events->size() == 2u);
  BOOST_TEST(events->back().payload == R"({"amount": 5})");
}

BOOST_AUTO_TEST_CASE(writers_appending_overlapping_streams_in_opposite_orders_do_not_deadlock) {
  // An open transaction holds the middle stream, so both writers take their first stream and
  // queue on it; once it ends, writers locking in their own batch order would deadlock.
  pqxx::connection raw{pg_event_store::connection_string(db.pg())};
  pqxx::work held{raw};
  held.exec0("INSERT INTO events (stream_id, stream_version, event_type, payload) "
             "VALUES ('overlap/m', 1, 'counter.added.v1', '{}')");
  pg_event_store other{db.pg(), db.config().journal};
  std::optional<store_result<std::vector<append_result>>> forward, backward;
  std::thread forward_writer{[&] {
    forward.emplace(store.append({append_to("overlap/a", no_stream, {1}),
                                  append_to("overlap/m", no_stream, {1}),
                                  append_to("overlap/z", no_stream, {1})}));
  }};
  std::thread backward_writer{[&] {
    backward.emplace(other.append({append_to("overlap/z", no_stream, {2}),
                                   append_to("overlap/m", no_stream, {2}),
                                   append_to("overlap/a", no_stream, {2})}));
  }};
  bool both_wait = backend_waits_on_a_lock(db.pg(), "pid", 2);
  held.abort();
  forward_writer.join();
  backward_writer.join();
  BOOST_TEST_REQUIRE(both_wait);
  for (auto* outcome : {&forward, &backward}) {
    BOOST_TEST_REQUIRE(outcome->has_value());
    BOOST_TEST_REQUIRE((*outcome)->operator bool(), (**outcome ? "" : (*outcome)->error().detail));
  }
  // Each stream was won by exactly one writer; the other got a conflict.
  for (size_t i = 0; i < 3; ++i) {
    auto forward_won = (**forward)[i].status == append_status::committed;
    auto backward_won = (**backward)[2 - i].status == append_status::committed;
    BOOST_TEST(forward_won != backward_won);
  }
}

BOOST_AUTO_TEST_CASE(an_append_chosen_as_deadlock_victim_is_retried_and_commits) {
  // The raw transaction holds "victim/b"; the store's append takes "victim/a" and waits on it;
  // then the raw transaction waits on "victim/a": a deadlock, detected by the store's backend
  // (it waited first), which PostgreSQL rolls back with 40P01. Nothing was written: retried.
  pqxx::connection raw{pg_event_store::connection_string(db.pg())};
  pqxx::work held{raw};
  held.exec0("INSERT INTO events (stream_id, stream_version, event_type, payload) "
             "VALUES ('victim/b', 1, 'counter.added.v1', '{}')");
  std::optional<store_result<std::vector<append_result>>> outcome;
  std::thread writer{[&] {
    outcome.emplace(store.append(
        {append_to("victim/a", no_stream, {1}), append_to("victim/b", no_stream, {1})}));
  }};
  BOOST_TEST_REQUIRE(backend_waits_on_a_lock(db.pg()));
  std::string raw_outcome = "inserted";
  try {
    held.exec0("INSERT INTO events (stream_id, stream_version, event_type, payload) "
               "VALUES ('victim/a', 1, 'counter.added.v1', '{}')");
  } catch (const pqxx::sql_error& e) {
    raw_outcome = e.sqlstate();
  }
  // The store retries and now waits on the raw transaction's rows: ending it lets it commit.
  held.abort();
  writer.join();
  BOOST_TEST_REQUIRE(raw_outcome == "inserted",
                     "the raw transaction was the victim: " << raw_outcome);
  BOOST_TEST_REQUIRE(outcome.has_value());
  BOOST_TEST_REQUIRE(outcome->operator bool(), (*outcome ? "" : outcome->error().detail));
  BOOST_TEST(((*outcome)->at(0).status == append_status::committed));
  BOOST_TEST(((*outcome)->at(1).status == append_status::committed));
}

BOOST_AUTO_TEST_CASE(a_write_whose_connection_is_terminated_in_flight_is_outcome_unknown) {
  // Version 1 is held by an open transaction, so the store's append waits on its lock, in flight.
  pqxx::connection raw{pg_event_store::connection_string(db.pg())};
  pqxx::work held{raw};
  held.exec0("INSERT INTO events (stream_id, stream_version, event_type, payload) "
             "VALUES ('cut/off', 1, 'counter.added.v1', '{}')");
  pg_event_store writer{db.pg(), db.config().journal};
  std::optional<store_result<std::vector<append_result>>> outcome;
  std::thread waiting_writer{
      [&] { outcome.emplace(writer.append({append_to("cut/off", no_stream, {1})})); }};
  // The server ends the writer's backend (57P01, as in a shutdown): from the client's side the
  // same answer can come after the commit, so a write can only be outcome_unknown.
  bool terminated = backend_waits_on_a_lock(db.pg(), "pg_terminate_backend(pid)");
  waiting_writer.join();
  held.abort();
  BOOST_TEST_REQUIRE(terminated);
  BOOST_TEST_REQUIRE(outcome.has_value());
  BOOST_TEST_REQUIRE(!*outcome);
  BOOST_TEST(to_string(outcome->error().code) == "outcome_unknown", outcome->error().detail);
}

BOOST_AUTO_TEST_CASE(recovery_from_snapshot_and_later_events_equals_replaying_everything) {
  int64_t version = no_stream;
  for (int i = 1; i <= 10; ++i) {
    version = append_one(store, append_to("counter/s", version, {i})).stream_version;
    if (i == 6) {
      counter_state at6;
      for (const auto& e : store.read_stream("counter/s", 1, 100).value()) {
        at6 = apply(at6, e);
      }
      BOOST_REQUIRE(store.save_snapshot(snapshot{"counter/s", at6.version, "counter.state.v1", 1,
                                                 nlohmann::json{{"total", at6.total}}.dump()}));
    }
  }
  // An older snapshot arriving late does not replace the newer one.
  BOOST_REQUIRE(
      store.save_snapshot(snapshot{"counter/s", 2, "counter.state.v1", 1, R"({"total": 3})"}));

  auto snap = store.load_snapshot("counter/s");
  BOOST_REQUIRE(snap);
  BOOST_REQUIRE(snap->has_value());
  BOOST_TEST((*snap)->stream_version == 6);
  counter_state recovered{nlohmann::json::parse((*snap)->payload).at("total").get<int64_t>(),
                          (*snap)->stream_version};
  auto later = store.read_stream("counter/s", recovered.version + 1, 100);
  BOOST_REQUIRE(later);
  BOOST_TEST(later->size() == 4u);
  for (const auto& e : *later) {
    recovered = apply(recovered, e);
  }
  counter_state replayed;
  for (const auto& e : store.read_stream("counter/s", 1, 100).value()) {
    replayed = apply(replayed, e);
  }
  BOOST_TEST(recovered.total == 55);
  BOOST_TEST(recovered.total == replayed.total);
  BOOST_TEST(recovered.version == replayed.version);
  BOOST_TEST(!store.load_snapshot("counter/none").value().has_value());

  // recover: the same snapshot and later events in one statement, also in pages.
  auto history = store.recover("counter/s", 100);
  BOOST_REQUIRE(history);
  BOOST_TEST(history->has_snapshot);
  BOOST_TEST(history->latest_snapshot.stream_version == 6);
  BOOST_TEST(history->latest_snapshot.payload == (*snap)->payload);
  BOOST_REQUIRE_EQUAL(history->events.size(), 4u);
  for (size_t i = 0; i < 4; ++i) {
    BOOST_TEST(history->events[i].stream_version == static_cast<int64_t>(7 + i));
    BOOST_TEST(history->events[i].payload == (*later)[i].payload);
  }
  auto first_page = store.recover("counter/s", 3);
  BOOST_REQUIRE(first_page);
  BOOST_TEST(first_page->events.size() == 3u);
  BOOST_TEST(first_page->events.back().stream_version == 9);
  auto none = store.recover("counter/none", 100);
  BOOST_REQUIRE(none);
  BOOST_TEST(!none->has_snapshot);
  BOOST_TEST(none->events.empty());
  append_one(store, append_to("counter/plain", no_stream, {1, 2, 3}));
  auto plain = store.recover("counter/plain", 100);
  BOOST_REQUIRE(plain);
  BOOST_TEST(!plain->has_snapshot);
  BOOST_TEST(plain->events.size() == 3u);
}

BOOST_AUTO_TEST_CASE(subscription_waits_for_a_late_commit_and_delivers_everything_once_in_order) {
  append_one(store, append_to("sub/before", no_stream, {1, 2}));
  // A transaction takes the next position and stays open...
  pqxx::connection raw{pg_event_store::connection_string(db.pg())};
  pqxx::work held{raw};
  auto held_position =
      held.exec1("INSERT INTO events (stream_id, stream_version, event_type, payload) "
                 "VALUES ('sub/held', 1, 'counter.added.v1', '{\"amount\": 3}') "
                 "RETURNING global_position")[0]
          .as<int64_t>();
  // ...while later ones commit with higher positions.
  for (int i = 0; i < 5; ++i) {
    append_one(store, append_to("sub/after-" + std::to_string(i), no_stream, {10 + i}));
  }
  pg_event_store reader_store{db.pg(), db.config().journal};
  subscription sub{reader_store, {}};
  std::vector<recorded_event> seen;
  // Transactions of other tests on the same server can delay what is readable: wait for the two
  // events before the open transaction, then see that nothing else comes while it is open.
  for (int round = 0; round < 500 && seen.size() < 2; ++round) {
    auto got = sub.poll(3);
    BOOST_REQUIRE(got);
    seen.insert(seen.end(), got->begin(), got->end());
    if (got->empty()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  for (int round = 0; round < 5; ++round) {
    auto got = sub.poll(3);
    BOOST_REQUIRE(got);
    seen.insert(seen.end(), got->begin(), got->end());
  }
  BOOST_TEST_REQUIRE(seen.size() == 2u); // only the events before the open transaction
  BOOST_TEST(sub.checkpoint().position == held_position - 1);

  held.commit();
  // Transactions of other tests on the same server can delay (never break) the release: retry.
  for (int round = 0; round < 500 && seen.size() < 8; ++round) {
    auto got = sub.poll(3);
    BOOST_REQUIRE(got);
    seen.insert(seen.end(), got->begin(), got->end());
    if (got->empty()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  BOOST_TEST_REQUIRE(seen.size() == 8u);
  std::set<int64_t> positions;
  for (size_t i = 0; i < seen.size(); ++i) {
    positions.insert(seen[i].global_position);
    if (i > 0) {
      BOOST_TEST(seen[i].global_position > seen[i - 1].global_position);
    }
  }
  BOOST_TEST(positions.size() == 8u);
  BOOST_TEST(positions.count(held_position) == 1u);
  BOOST_TEST(sub.poll(100).value().empty());
}

BOOST_AUTO_TEST_CASE(
    subscription_never_skips_an_event_whose_writer_took_its_xid_first_and_commits_last) {
  // The interleaving of issue 9, item 4, on two raw connections: A takes xid x and position p,
  // B takes xid x+1 and p+1, A takes p+2 and commits; a snapshot now lists no transaction in
  // progress (B's xid is not below its xmax), yet p+1 is still to come.
  pqxx::connection conn_a{pg_event_store::connection_string(db.pg())};
  pqxx::connection conn_b{pg_event_store::connection_string(db.pg())};
  pqxx::work writer_a{conn_a};
  pqxx::work writer_b{conn_b};
  auto insert = [](pqxx::work& tx, const std::string& stream, int version) {
    return tx
        .exec1("INSERT INTO events (stream_id, stream_version, event_type, payload) VALUES (" +
               tx.quote(stream) + ", " + std::to_string(version) +
               ", 'counter.added.v1', '{}') RETURNING global_position")[0]
        .as<int64_t>();
  };
  auto p = insert(writer_a, "skip/a", 1);
  auto p1 = insert(writer_b, "skip/b", 1);
  auto p2 = insert(writer_a, "skip/a", 2);
  BOOST_REQUIRE(p1 == p + 1);
  BOOST_REQUIRE(p2 == p + 2);
  writer_a.commit();

  subscription sub{store, {}};
  std::vector<int64_t> delivered;
  auto poll_until = [&](size_t count) {
    for (int round = 0; round < 500 && delivered.size() < count; ++round) {
      auto got = sub.poll(10);
      BOOST_REQUIRE(got);
      for (const auto& e : *got) {
        delivered.push_back(e.global_position);
      }
      if (got->empty()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    }
  };
  poll_until(2);
  // Whatever it delivered so far, p+1 was not among it (B has not committed)...
  BOOST_TEST(std::count(delivered.begin(), delivered.end(), p1) == 0);
  writer_b.commit();
  // ...and once B committed it comes, exactly once, with A's two events.
  poll_until(3);
  BOOST_TEST(delivered.size() == 3u);
  BOOST_TEST(std::count(delivered.begin(), delivered.end(), p) == 1);
  BOOST_TEST(std::count(delivered.begin(), delivered.end(), p1) == 1);
  BOOST_TEST(std::count(delivered.begin(), delivered.end(), p2) == 1);
  BOOST_TEST(sub.poll(100).value().empty());
}

BOOST_AUTO_TEST_CASE(subscription_passes_a_gap_left_by_a_rolled_back_transaction) {
  append_one(store, append_to("gap/1", no_stream, {1}));
  {
    pqxx::connection raw{pg_event_store::connection_string(db.pg())};
    pqxx::work doomed{raw};
    doomed.exec0("INSERT INTO events (stream_id, stream_version, event_type, payload) "
                 "VALUES ('gap/doomed', 1, 'counter.added.v1', '{}')");
    append_one(store, append_to("gap/2", no_stream, {2}));
    doomed.abort();
  }
  append_one(store, append_to("gap/3", no_stream, {3}));
  subscription sub{store, {}};
  std::vector<std::string> streams;
  for (int round = 0; round < 500 && streams.size() < 3; ++round) {
    for (const auto& e : sub.poll(10).value()) {
      streams.push_back(e.stream_id);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  BOOST_TEST(streams == (std::vector<std::string>{"gap/1", "gap/2", "gap/3"}));
}

BOOST_AUTO_TEST_CASE(a_subscription_of_one_type_delivers_only_that_type_in_order) {
  for (int i = 0; i < 6; ++i) {
    auto a = append_to("typed/" + std::to_string(i), no_stream, {i});
    if (i % 2 == 0) {
      a.events.front().type = "counter.picked.v1";
    }
    append_one(store, std::move(a));
  }
  subscription sub{store, {}, {"counter.picked.v1"}};
  std::vector<std::string> streams;
  for (int round = 0; round < 500 && streams.size() < 3; ++round) {
    for (const auto& e : sub.poll(2).value()) {
      BOOST_TEST(e.type == "counter.picked.v1");
      streams.push_back(e.stream_id);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  BOOST_TEST(streams == (std::vector<std::string>{"typed/0", "typed/2", "typed/4"}));
  BOOST_TEST(sub.poll(2).value().empty());
}

BOOST_AUTO_TEST_CASE(a_subscriber_resuming_from_its_checkpoint_sees_no_event_twice) {
  for (int i = 0; i < 20; ++i) {
    append_one(store, append_to("cp/" + std::to_string(i), no_stream, {i}));
  }
  std::vector<int64_t> seen;
  {
    subscription first{store, store.load_checkpoint("projector").value()};
    for (const auto& e : first.poll(7).value()) {
      seen.push_back(e.global_position);
    }
    BOOST_REQUIRE(store.save_checkpoint("projector", first.checkpoint()));
  }
  subscription resumed{store, store.load_checkpoint("projector").value()};
  for (int round = 0; round < 500 && seen.size() < 20; ++round) {
    auto got = resumed.poll(7).value();
    for (const auto& e : got) {
      seen.push_back(e.global_position);
    }
    if (got.empty()) { // other tests' transactions can delay what is readable
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  BOOST_TEST(seen.size() == 20u);
  BOOST_TEST(std::set<int64_t>(seen.begin(), seen.end()).size() == 20u);
}

BOOST_AUTO_TEST_CASE(the_append_statements_planned_once_on_an_empty_table_still_probe_the_index) {
  // append() prepares its statements once per connection, so PostgreSQL may keep generic plans
  // made while `events` was empty. They must look each predecessor up in the index, not hash a
  // scan of the whole table, which would grow with the journal.
  pqxx::connection c{pg_event_store::connection_string(db.pg())};
  pqxx::nontransaction tx{c};
  BOOST_TEST_REQUIRE(db.query_value("SELECT count(*) FROM events") == "0");
  tx.exec0("SET plan_cache_mode = force_generic_plan");
  int n = 0;
  for (const auto& statement :
       {pg_event_store::append_statement(), pg_event_store::checked_append_statement()}) {
    auto name = "append_under_test_" + std::to_string(++n);
    tx.exec0("PREPARE " + name + " AS " + statement);
    std::string plan;
    for (const auto& row : tx.exec("EXPLAIN EXECUTE " + name +
                                   "('{a}', '{2}', '{t}', '{1}', '{\"{}\"}', '{\"{}\"}', '{1}', "
                                   "'{f}')")) {
      plan += row[0].as<std::string>() + "\n";
    }
    BOOST_TEST_MESSAGE(plan);
    BOOST_TEST(plan.find("Seq Scan on events") == std::string::npos, plan);
    BOOST_TEST(plan.find("using events_stream_version_unique on events x") != std::string::npos,
               plan);
  }
}

BOOST_AUTO_TEST_CASE(a_subscription_of_one_type_moves_past_the_other_events_it_passed_over) {
  for (int i = 0; i < 30; ++i) {
    append_one(store, append_to("other/" + std::to_string(i), no_stream, {i}));
  }
  subscription typed{store, {}, {"wanted.v1"}};
  BOOST_TEST(typed.poll(10).value().empty());
  // Every event above was written by a transaction that ended before the read: passed over for
  // good, so the next read starts after them (not from the beginning again), at the log's end: a
  // real event's checkpoint, as every other one (the restore guard of migrate() relies on it).
  const auto end = store.log_end().value();
  BOOST_TEST(typed.checkpoint().transaction_id == end.transaction_id);
  BOOST_TEST(typed.checkpoint().position == end.position);
  stream_append wanted{"wanted/1", no_stream, {new_event{"wanted.v1", 1, R"({"n":1})", "{}"}}};
  append_one(store, wanted);
  std::vector<recorded_event> got;
  for (int round = 0; round < 500 && got.empty(); ++round) {
    got = typed.poll(10).value();
  }
  BOOST_TEST_REQUIRE(got.size() == 1u);
  BOOST_TEST(got[0].stream_id == "wanted/1");
}

BOOST_AUTO_TEST_CASE(a_subscription_of_several_types_delivers_only_those_without_their_metadata) {
  const std::vector<std::string> types{"kept.a.v1", "passed.v1", "kept.b.v1"};
  for (int i = 0; i < 6; ++i) {
    append_one(store,
               stream_append{"several/" + std::to_string(i),
                             no_stream,
                             {new_event{types[i % 3], 1, R"({"n":)" + std::to_string(i) + "}",
                                        R"({"trace":"t)" + std::to_string(i) + R"("})"}}});
  }
  subscription sub{store, {}, {"kept.a.v1", "kept.b.v1"}};
  std::vector<recorded_event> got;
  for (int round = 0; round < 500 && got.size() < 4; ++round) {
    auto page = sub.poll(3).value();
    got.insert(got.end(), page.begin(), page.end());
    if (page.empty()) { // other tests' transactions can delay what is readable
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  BOOST_TEST_REQUIRE(got.size() == 4u);
  const std::vector<std::string> streams{"several/0", "several/2", "several/3", "several/5"};
  for (size_t i = 0; i < got.size(); ++i) {
    BOOST_TEST(got[i].stream_id == streams[i]);
    BOOST_TEST(got[i].type == types[std::stoi(streams[i].substr(8)) % 3]);
    BOOST_TEST(got[i].payload == R"({"n": )" + streams[i].substr(8) + "}");
    BOOST_TEST(got[i].stream_version == 1);
    BOOST_TEST(got[i].recorded_at_us > 0);
    BOOST_TEST(got[i].metadata.empty()); // never read: no reader of a typed log uses it
  }
  BOOST_TEST(sub.poll(3).value().empty());
}

BOOST_AUTO_TEST_CASE(a_typed_subscription_holds_back_what_follows_a_transaction_still_writing) {
  append_one(store, stream_append{"held/before", no_stream, {new_event{"kept.v1", 1, "{}", "{}"}}});
  pqxx::connection raw{pg_event_store::connection_string(db.pg())};
  pqxx::work held{raw};
  const auto held_position =
      held.exec1("INSERT INTO events (stream_id, stream_version, event_type, payload) "
                 "VALUES ('held/open', 1, 'kept.v1', '{}') RETURNING global_position")[0]
          .as<int64_t>();
  const auto held_xid = held.exec1("SELECT pg_current_xact_id()::text")[0].as<uint64_t>();
  BOOST_TEST_MESSAGE("held at position " << held_position);
  // Later transactions commit events of the type, and others, after the open one began.
  for (int i = 0; i < 3; ++i) {
    append_one(store, stream_append{"held/after-" + std::to_string(i),
                                    no_stream,
                                    {new_event{i == 1 ? "passed.v1" : "kept.v1", 1, "{}", "{}"}}});
  }
  pg_event_store reader_store{db.pg(), db.config().journal};
  subscription sub{reader_store, {}, {"kept.v1", "other.v1"}};
  std::vector<std::string> seen;
  auto poll = [&] {
    auto got = sub.poll(10);
    BOOST_REQUIRE(got);
    for (const auto& e : *got) {
      seen.push_back(e.stream_id);
    }
    return got->size();
  };
  for (int round = 0; round < 500 && seen.empty(); ++round) {
    if (poll() == 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  for (int round = 0; round < 5; ++round) {
    poll();
  }
  // Only the event before the open transaction; the log's end it moved to is before it, too.
  BOOST_TEST_REQUIRE(seen == (std::vector<std::string>{"held/before"}));
  BOOST_TEST(sub.checkpoint().transaction_id < held_xid);
  held.commit();
  for (int round = 0; round < 500 && seen.size() < 4; ++round) {
    if (poll() == 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  BOOST_TEST(seen == (std::vector<std::string>{"held/before", "held/open", "held/after-0",
                                               "held/after-2"}));
  BOOST_TEST(sub.poll(10).value().empty());
}

BOOST_AUTO_TEST_CASE(a_saved_checkpoint_is_never_moved_back) {
  BOOST_REQUIRE(store.save_checkpoint("shared", {100, 5}));
  BOOST_REQUIRE(store.save_checkpoint("shared", {90, 7})); // a lagging process sharing it
  BOOST_TEST((store.load_checkpoint("shared").value() == log_checkpoint{100, 5}));
  BOOST_REQUIRE(store.save_checkpoint("shared", {100, 6}));
  BOOST_TEST((store.load_checkpoint("shared").value() == log_checkpoint{100, 6}));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_CASE(processes_migrating_at_the_same_time_apply_each_migration_once) {
  testing::pg_test_database db{false};
  std::vector<std::thread> starters;
  std::atomic<int> failures{0};
  for (int i = 0; i < 4; ++i) {
    starters.emplace_back([&] {
      pg_event_store store{db.pg(), db.config().journal};
      if (!store.migrate()) {
        ++failures;
      }
    });
  }
  for (auto& t : starters) {
    t.join();
  }
  BOOST_TEST(failures.load() == 0);
  BOOST_TEST(db.query_value("SELECT count(*) FROM schema_migrations") ==
             std::to_string(migrations().size()));
  BOOST_TEST(db.query_value("SELECT count(*) FROM events") == "0");
}

BOOST_AUTO_TEST_CASE(an_unreachable_database_gives_typed_errors_and_backs_off) {
  auto cfg = testing::config_from_environment();
  cfg.pg.port = 1; // nothing listens there
  cfg.journal.reconnect_min = std::chrono::milliseconds(10000);
  pg_event_store store{cfg.pg, cfg.journal};
  auto first = store.append({append_to("x", no_stream, {1})});
  BOOST_REQUIRE(!first);
  BOOST_TEST((first.error().code == store_errc::unavailable));
  BOOST_TEST(first.error().detail.find("cannot connect") != std::string::npos);
  // Inside the back-off window it fails at once, without another attempt.
  auto started = std::chrono::steady_clock::now();
  auto second = store.read_stream("x", 1, 10);
  BOOST_REQUIRE(!second);
  BOOST_TEST((second.error().code == store_errc::unavailable));
  BOOST_TEST(second.error().detail.find("next connection attempt") != std::string::npos);
  BOOST_TEST((std::chrono::steady_clock::now() - started < std::chrono::seconds(1)));
  BOOST_TEST(!store.connected());
}
