#define BOOST_TEST_MODULE journal
#include <boost/test/unit_test.hpp>

#include "core/actor_system.hpp"
#include "persistence/journal.hpp"
#include "persistence/pg_event_store.hpp"
#include "tests/support/pg_test_database.hpp"

#include <caf/all.hpp>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include <atomic>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <variant>

using namespace ordermesh;
using namespace ordermesh::persistence;
using namespace std::chrono_literals;

namespace {

struct journal_fixture {
  testing::pg_test_database db;
  caf::actor_system_config cfg;
  caf::actor_system sys{core::configure(cfg)};

  std::vector<journal_actor> started;

  journal_actor start(const config::pg_config& pg, const config::journal_config& jc,
                      std::shared_ptr<store_health> health = nullptr) {
    started.push_back(spawn_journal(sys, pg, jc, std::move(health)));
    return started.back();
  }
  journal_actor start(const config::journal_config& jc) { return start(db.pg(), jc); }
  journal_actor start() { return start(db.config().journal); }

  ~journal_fixture() {
    // ~actor_system waits for every actor: stop the journals (their workers are linked).
    for (auto& j : started) {
      caf::anon_send_exit(j, caf::exit_reason::user_shutdown);
    }
  }
};

stream_append one_event(std::string stream, int64_t expected, int64_t amount) {
  return stream_append{
      std::move(stream),
      expected,
      {new_event{"counter.added.v1", 1, nlohmann::json{{"amount", amount}}.dump(), "{}"}}};
}

journal_stats stats_of(caf::scoped_actor& self, const journal_actor& j) {
  journal_stats result;
  self->request(j, 5s, caf::get_atom::value, journal_stats_atom::value)
      .receive([&](journal_stats s) { result = s; },
               [&](caf::error& e) { BOOST_FAIL("stats: " << to_string(e)); });
  return result;
}

/// Whether the journal reports `count` appends not answered yet (waiting or in flight) within 10 s.
bool eventually_waiting(caf::scoped_actor& self, const journal_actor& j, uint32_t count) {
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (stats_of(self, j).waiting == count) {
      return true;
    }
    std::this_thread::sleep_for(5ms);
  }
  return false;
}

/// Sends every append at once and collects the replies (in arrival order).
std::pair<std::vector<append_result>, std::vector<caf::error>>
send_all(caf::scoped_actor& self, const journal_actor& j, std::vector<stream_append> appends) {
  for (auto& a : appends) {
    self->send(j, append_atom::value, std::move(a));
  }
  std::vector<append_result> results;
  std::vector<caf::error> errors;
  for (size_t i = 0; i < appends.size(); ++i) {
    self->receive([&](append_result& r) { results.push_back(r); },
                  [&](caf::error& e) { errors.push_back(e); },
                  caf::after(30s) >> [&] { BOOST_FAIL("no reply within 30 s"); });
  }
  return {results, errors};
}

/// Waits (up to 10 s) until `count` backends of the database wait on a lock; returns their pids.
std::vector<int> backends_waiting_on_a_lock(const config::pg_config& pg, size_t count) {
  pqxx::connection c{pg_event_store::connection_string(pg)};
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline) {
    pqxx::nontransaction tx{c};
    auto r = tx.exec("SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                     " AND wait_event_type = 'Lock'");
    if (r.size() >= count) {
      std::vector<int> pids;
      for (const auto& row : r) {
        pids.push_back(row[0].as<int>());
      }
      return pids;
    }
    std::this_thread::sleep_for(10ms);
  }
  return {};
}

/// A transaction of the test's own that has inserted version 1 of `stream` and not ended: an
/// append of that version waits for it (the unique index), on whichever connection it runs.
struct held_stream {
  pqxx::connection connection;
  pqxx::work tx;
  held_stream(const config::pg_config& pg, const std::string& stream)
      : connection{pg_event_store::connection_string(pg)}, tx{connection} {
    tx.exec_params0("INSERT INTO events (stream_id, stream_version, event_type, payload)"
                    " VALUES ($1, 1, 'counter.added.v1', '{\"amount\": 0}')",
                    stream);
  }
};

/// Waits up to `timeout` for one reply; nullopt if none came.
std::optional<std::variant<append_result, caf::error>> next_reply(caf::scoped_actor& self,
                                                                  caf::timespan timeout) {
  std::optional<std::variant<append_result, caf::error>> out;
  self->receive([&](append_result& r) { out = r; }, [&](caf::error& e) { out = e; },
                caf::after(timeout) >> [] {});
  return out;
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(journal, journal_fixture)

BOOST_AUTO_TEST_CASE(a_lone_append_is_committed_at_once_in_a_batch_of_one) {
  auto j = start();
  caf::scoped_actor self{sys};
  self->request(j, 10s, append_atom::value, one_event("lone", no_stream, 1))
      .receive(
          [&](append_result r) {
            BOOST_TEST((r.status == append_status::committed));
            BOOST_TEST(r.stream_version == 1);
          },
          [&](caf::error& e) { BOOST_FAIL(to_string(e)); });
  auto s = stats_of(self, j);
  BOOST_TEST(s.batches == 1u);
  BOOST_TEST(s.largest_batch == 1u);
  BOOST_TEST(db.query_value("SELECT count(*) FROM events") == "1");
}

BOOST_AUTO_TEST_CASE(appends_arriving_during_a_commit_are_committed_together) {
  auto j = start();
  caf::scoped_actor self{sys};
  std::vector<stream_append> appends;
  for (int i = 0; i < 300; ++i) {
    appends.push_back(one_event("many/" + std::to_string(i), no_stream, i));
  }
  auto [results, errors] = send_all(self, j, std::move(appends));
  BOOST_TEST(errors.empty());
  BOOST_TEST(results.size() == 300u);
  for (const auto& r : results) {
    BOOST_TEST((r.status == append_status::committed));
  }
  auto s = stats_of(self, j);
  BOOST_TEST(s.appends == 300u);
  BOOST_TEST(s.largest_batch > 1u);
  BOOST_TEST(s.batches < 300u);
  BOOST_TEST(db.query_value("SELECT count(*) FROM events") == "300");
}

BOOST_AUTO_TEST_CASE(a_conflicting_stream_fails_alone_and_the_rest_of_the_batch_commits) {
  auto j = start();
  caf::scoped_actor self{sys};
  send_all(self, j, {one_event("taken", no_stream, 1)});
  std::vector<stream_append> appends;
  for (int i = 0; i < 50; ++i) {
    appends.push_back(one_event("fine/" + std::to_string(i), no_stream, i));
    if (i == 25) {
      appends.push_back(one_event("taken", no_stream, 99)); // stale: "taken" is at version 1
    }
  }
  auto [results, errors] = send_all(self, j, std::move(appends));
  BOOST_TEST(errors.empty());
  auto conflicts = std::count_if(results.begin(), results.end(), [](const append_result& r) {
    return r.status == append_status::version_conflict;
  });
  BOOST_TEST(conflicts == 1);
  BOOST_TEST(db.query_value("SELECT count(*) FROM events WHERE stream_id LIKE 'fine/%'") == "50");
  BOOST_TEST(db.query_value("SELECT payload->>'amount' FROM events WHERE stream_id = 'taken'") ==
             "1");
}

BOOST_AUTO_TEST_CASE(an_append_the_database_rejects_fails_alone_and_the_rest_of_the_batch_commits) {
  auto j = start();
  caf::scoped_actor self{sys};
  std::vector<stream_append> appends;
  for (int i = 0; i < 60; ++i) {
    appends.push_back(one_event("ok/" + std::to_string(i), no_stream, i));
    if (i == 30) {
      // Not JSON: PostgreSQL refuses the cast to jsonb (22P02), a statement error.
      appends.push_back(stream_append{"poisoned", no_stream, {new_event{"x.v1", 1, "{", "{}"}}});
    }
  }
  auto [results, errors] = send_all(self, j, std::move(appends));
  BOOST_TEST_REQUIRE(errors.size() == 1u);
  BOOST_TEST((errors.front() == store_errc::rejected), sys.render(errors.front()));
  BOOST_TEST(results.size() == 60u);
  for (const auto& r : results) {
    BOOST_TEST((r.status == append_status::committed));
  }
  BOOST_TEST(db.query_value("SELECT count(*) FROM events WHERE stream_id LIKE 'ok/%'") == "60");
  BOOST_TEST(db.query_value("SELECT count(*) FROM events WHERE stream_id = 'poisoned'") == "0");
  auto s = stats_of(self, j);
  BOOST_TEST(s.largest_batch > 1u); // the bad append did share a batch with good ones
  BOOST_TEST(s.failed == 1u);
  BOOST_TEST(s.appends == 60u);
}

BOOST_AUTO_TEST_CASE(a_malformed_append_is_refused_alone_and_the_rest_of_the_batch_commits) {
  auto j = start();
  caf::scoped_actor self{sys};
  std::vector<stream_append> appends;
  for (int i = 0; i < 40; ++i) {
    appends.push_back(one_event("fine/" + std::to_string(i), no_stream, i));
    if (i == 20) {
      appends.push_back(stream_append{"empty", no_stream, {}}); // no event to append
    }
  }
  auto [results, errors] = send_all(self, j, std::move(appends));
  BOOST_TEST_REQUIRE(errors.size() == 1u);
  BOOST_TEST((errors.front() == store_errc::invalid_request), sys.render(errors.front()));
  BOOST_TEST(results.size() == 40u);
  BOOST_TEST(db.query_value("SELECT count(*) FROM events WHERE stream_id LIKE 'fine/%'") == "40");
}

BOOST_AUTO_TEST_CASE(back_to_back_appends_to_one_stream_commit_in_order) {
  auto j = start();
  caf::scoped_actor self{sys};
  std::vector<stream_append> appends;
  for (int v = 0; v < 5; ++v) {
    appends.push_back(one_event("chain", v, v + 1));
  }
  auto [results, errors] = send_all(self, j, std::move(appends));
  BOOST_TEST(errors.empty());
  for (const auto& r : results) {
    BOOST_TEST((r.status == append_status::committed));
  }
  BOOST_TEST(db.query_value("SELECT string_agg(payload->>'amount', ',' ORDER BY stream_version) "
                            "FROM events WHERE stream_id = 'chain'") == "1,2,3,4,5");
}

BOOST_AUTO_TEST_CASE(more_waiting_appends_than_allowed_are_refused_as_overloaded) {
  auto jc = db.config().journal;
  jc.max_pending = 4;
  jc.max_batch = 2;
  auto j = start(jc);
  caf::scoped_actor self{sys};
  std::vector<stream_append> appends;
  for (int i = 0; i < 60; ++i) {
    appends.push_back(one_event("load/" + std::to_string(i), no_stream, i));
  }
  auto [results, errors] = send_all(self, j, std::move(appends));
  BOOST_TEST(!errors.empty());
  for (const auto& e : errors) {
    BOOST_TEST((e == store_errc::overloaded));
  }
  BOOST_TEST(results.size() + errors.size() == 60u);
  BOOST_TEST(db.query_value("SELECT count(*) FROM events") == std::to_string(results.size()));
}

BOOST_AUTO_TEST_CASE(an_unreachable_database_answers_every_append_with_a_typed_error) {
  auto pg = db.pg();
  pg.port = 1;
  auto j = start(pg, db.config().journal);
  caf::scoped_actor self{sys};
  auto [results, errors] =
      send_all(self, j, {one_event("a", no_stream, 1), one_event("b", no_stream, 1)});
  BOOST_TEST(results.empty());
  BOOST_TEST_REQUIRE(errors.size() == 2u);
  for (const auto& e : errors) {
    BOOST_TEST((e == store_errc::unavailable));
  }
  BOOST_TEST(stats_of(self, j).failed == 2u);
}

BOOST_AUTO_TEST_CASE(the_journal_health_says_whether_it_reaches_the_database_and_runs) {
  caf::scoped_actor self{sys};
  auto unreachable = db.pg();
  unreachable.port = 1;
  auto down_health = std::make_shared<store_health>();
  auto down = start(unreachable, db.config().journal, down_health);
  auto [none, errors] = send_all(self, down, {one_event("h", no_stream, 1)});
  BOOST_TEST_REQUIRE(errors.size() == 1u);
  BOOST_TEST(!down_health->reachable());
  BOOST_TEST(down_health->consecutive_failures() >= 1u);
  BOOST_TEST((down_health->last_error().code == store_errc::unavailable));
  BOOST_TEST(down_health->running());

  auto up_health = std::make_shared<store_health>();
  auto up = start(db.pg(), db.config().journal, up_health);
  auto [results, no_errors] = send_all(self, up, {one_event("h", no_stream, 1)});
  BOOST_TEST_REQUIRE(results.size() == 1u);
  BOOST_TEST(up_health->reachable());
  BOOST_TEST((up_health->last_error().code == store_errc::nil));

  // A journal that ended (killed here, crashed in production) says so without being asked.
  caf::anon_send_exit(up, caf::exit_reason::kill);
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (up_health->running() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  BOOST_TEST(!up_health->running());
}

BOOST_AUTO_TEST_CASE(an_append_commits_while_another_streams_batch_waits_on_a_lock) {
  auto jc = db.config().journal;
  jc.writers = 2;
  auto j = start(jc);
  caf::scoped_actor self{sys};
  held_stream held{db.pg(), "held"};
  self->send(j, append_atom::value, one_event("held", no_stream, 1));
  BOOST_TEST_REQUIRE(backends_waiting_on_a_lock(db.pg(), 1).size() == 1u);
  // The held stream's batch waits on one connection; this one goes out on the other.
  self->send(j, append_atom::value, one_event("free", no_stream, 1));
  auto free = next_reply(self, 10s);
  BOOST_TEST_REQUIRE(free.has_value(), "the free stream waited for the held one");
  BOOST_TEST_REQUIRE(std::holds_alternative<append_result>(*free));
  BOOST_TEST((std::get<append_result>(*free).status == append_status::committed));
  BOOST_TEST(db.query_value("SELECT count(*) FROM events WHERE stream_id = 'free'") == "1");
  held.tx.abort();
  auto released = next_reply(self, 10s);
  BOOST_TEST_REQUIRE(released.has_value());
  BOOST_TEST_REQUIRE(std::holds_alternative<append_result>(*released));
  BOOST_TEST((std::get<append_result>(*released).status == append_status::committed));
}

// Callers send their appends straight to the journal writer (not through its supervisor): when it
// ends, it answers them itself, each as what may have happened to it.
BOOST_AUTO_TEST_CASE(
    a_journal_that_ends_answers_the_appends_in_flight_unknown_and_the_waiting_unavailable) {
  auto jc = db.config().journal;
  jc.writers = 1;
  auto j = start(jc);
  caf::scoped_actor self{sys};
  held_stream held{db.pg(), "held-at-end"};
  self->send(j, append_atom::value, one_event("held-at-end", no_stream, 1));
  BOOST_TEST_REQUIRE(backends_waiting_on_a_lock(db.pg(), 1).size() == 1u);
  // The only writer is busy: this one waits in the journal, never sent.
  self->send(j, append_atom::value, one_event("never-sent", no_stream, 1));
  BOOST_TEST_REQUIRE(eventually_waiting(self, j, 2u));
  caf::anon_send_exit(j, caf::exit_reason::kill);
  std::vector<std::string> answers;
  for (int i = 0; i < 2; ++i) {
    auto reply = next_reply(self, 5s);
    BOOST_TEST_REQUIRE(reply.has_value(), "an append was left unanswered when the journal ended");
    BOOST_TEST_REQUIRE(std::holds_alternative<caf::error>(*reply));
    const auto& err = std::get<caf::error>(*reply);
    answers.push_back(err == store_errc::outcome_unknown ? "unknown"
                      : err == store_errc::unavailable   ? "unavailable"
                                                         : to_string(err));
  }
  std::sort(answers.begin(), answers.end());
  BOOST_TEST(answers == (std::vector<std::string>{"unavailable", "unknown"}),
             answers[0] << ", " << answers[1]);
  held.tx.abort();
}

BOOST_AUTO_TEST_CASE(an_append_stuck_in_flight_counts_as_not_answered_in_the_stats) {
  // The node's stall watch reads `waiting`: with idle writers left, a stuck append is in flight,
  // not queued, and must still count.
  auto jc = db.config().journal;
  jc.writers = 2;
  auto j = start(jc);
  caf::scoped_actor self{sys};
  held_stream held{db.pg(), "stuck"};
  self->send(j, append_atom::value, one_event("stuck", no_stream, 1));
  BOOST_TEST_REQUIRE(backends_waiting_on_a_lock(db.pg(), 1).size() == 1u);
  BOOST_TEST(stats_of(self, j).waiting == 1u);
  held.tx.abort();
  BOOST_TEST_REQUIRE(next_reply(self, 10s).has_value());
  BOOST_TEST(stats_of(self, j).waiting == 0u);
}

// Every writer blocked (here the only one, on a lock): its commit is given up on, and an append
// waiting for a free writer is answered unavailable within about the commit timeout too (it was
// never sent), instead of waiting as long as the writers do. Callers that may finish arm no timer
// of their own for an append: they count on this answer.
BOOST_AUTO_TEST_CASE(an_append_waiting_behind_blocked_writers_is_answered_unavailable_in_time) {
  auto jc = db.config().journal;
  jc.writers = 1;
  jc.commit_timeout = 300ms;
  auto j = start(jc);
  caf::scoped_actor self{sys};
  held_stream held{db.pg(), "blocked"};
  self->send(j, append_atom::value, one_event("blocked", no_stream, 1));
  BOOST_TEST_REQUIRE(backends_waiting_on_a_lock(db.pg(), 1).size() == 1u);
  auto given_up = next_reply(self, 10s);
  BOOST_TEST_REQUIRE(given_up.has_value());
  BOOST_TEST_REQUIRE(std::holds_alternative<caf::error>(*given_up));
  BOOST_TEST((std::get<caf::error>(*given_up) == store_errc::outcome_unknown));
  // The writer is still blocked: this one waits for it, and is answered in time.
  self->send(j, append_atom::value, one_event("behind", no_stream, 1));
  auto waited = next_reply(self, 5s);
  BOOST_TEST_REQUIRE(waited.has_value(), "the waiting append got no answer while the writer hung");
  BOOST_TEST_REQUIRE(std::holds_alternative<caf::error>(*waited));
  BOOST_TEST((std::get<caf::error>(*waited) == store_errc::unavailable));
  BOOST_TEST(db.query_value("SELECT count(*) FROM events WHERE stream_id = 'behind'") == "0");
  held.tx.abort();
  // The writer answers, is free again, and the next append commits.
  BOOST_TEST(eventually_waiting(self, j, 0u));
  auto [results, errors] = send_all(self, j, {one_event("behind", no_stream, 1)});
  BOOST_TEST(results.size() == 1u);
  BOOST_TEST(errors.empty());
}

BOOST_AUTO_TEST_CASE(a_writer_whose_commit_timed_out_gets_no_batch_until_it_answers) {
  auto jc = db.config().journal;
  jc.writers = 2;
  jc.commit_timeout = 300ms;
  auto j = start(jc);
  caf::scoped_actor self{sys};
  held_stream held{db.pg(), "stuck"};
  self->send(j, append_atom::value, one_event("stuck", no_stream, 1));
  BOOST_TEST_REQUIRE(backends_waiting_on_a_lock(db.pg(), 1).size() == 1u);
  auto timed_out = next_reply(self, 10s);
  BOOST_TEST_REQUIRE(timed_out.has_value());
  BOOST_TEST_REQUIRE(std::holds_alternative<caf::error>(*timed_out));
  BOOST_TEST((std::get<caf::error>(*timed_out) == store_errc::outcome_unknown));
  // Its worker is still blocked in the statement: both go to the other writer and commit.
  auto [results, errors] =
      send_all(self, j, {one_event("free-1", no_stream, 1), one_event("free-2", no_stream, 1)});
  for (const auto& e : errors) {
    BOOST_TEST_MESSAGE("error: " << to_string(e));
  }
  BOOST_TEST(errors.empty());
  BOOST_TEST(results.size() == 2u);
  // Once its statement ends (it commits late: outcome_unknown was right), the writer takes
  // batches again: with the other one blocked in turn, an append still commits.
  held.tx.abort();
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (db.query_value("SELECT count(*) FROM events WHERE stream_id = 'stuck'") != "1" &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  BOOST_TEST_REQUIRE(db.query_value("SELECT count(*) FROM events WHERE stream_id = 'stuck'") ==
                     "1");
  held_stream second{db.pg(), "stuck-2"};
  self->send(j, append_atom::value, one_event("stuck-2", no_stream, 1));
  BOOST_TEST_REQUIRE(backends_waiting_on_a_lock(db.pg(), 1).size() == 1u);
  self->request(j, 10s, append_atom::value, one_event("free-3", no_stream, 1))
      .receive([&](append_result& r) { BOOST_TEST((r.status == append_status::committed)); },
               [&](caf::error& e) { BOOST_FAIL("free-3: " << to_string(e)); });
  second.tx.abort();
}

BOOST_AUTO_TEST_CASE(a_streams_second_append_waits_for_its_first_while_a_writer_is_free) {
  auto jc = db.config().journal;
  jc.writers = 4;
  auto j = start(jc);
  caf::scoped_actor self{sys};
  held_stream held{db.pg(), "chain"};
  auto first = self->request(j, 20s, append_atom::value, one_event("chain", no_stream, 1));
  BOOST_TEST_REQUIRE(backends_waiting_on_a_lock(db.pg(), 1).size() == 1u);
  // Sent while the first is in flight and three writers are idle: on another connection it would
  // be checked against version 1 before the first commits, and conflict.
  auto second = self->request(j, 20s, append_atom::value, one_event("chain", 1, 2));
  auto third = self->request(j, 20s, append_atom::value, one_event("chain", 2, 3));
  held.tx.abort();
  for (auto* reply : {&first, &second, &third}) {
    reply->receive([&](append_result& r) { BOOST_TEST((r.status == append_status::committed)); },
                   [&](caf::error& e) { BOOST_FAIL(to_string(e)); });
  }
  BOOST_TEST(db.query_value("SELECT string_agg(payload->>'amount', ',' ORDER BY stream_version) "
                            "FROM events WHERE stream_id = 'chain'") == "1,2,3");
}

BOOST_AUTO_TEST_CASE(a_connection_killed_mid_commit_loses_no_other_connections_batch) {
  auto jc = db.config().journal;
  jc.writers = 2;
  jc.reconnect_min = 10ms;
  auto j = start(jc);
  caf::scoped_actor self{sys};
  held_stream held{db.pg(), "doomed"};
  self->send(j, append_atom::value, one_event("doomed", no_stream, 1));
  auto waiting = backends_waiting_on_a_lock(db.pg(), 1);
  BOOST_TEST_REQUIRE(waiting.size() == 1u);
  // A burst to other streams goes out on the other connection while the first one dies.
  std::vector<stream_append> others;
  for (int i = 0; i < 50; ++i) {
    others.push_back(one_event("other/" + std::to_string(i), no_stream, i));
  }
  for (auto& a : others) {
    self->send(j, append_atom::value, std::move(a));
  }
  db.query_value("SELECT pg_terminate_backend(" + std::to_string(waiting.front()) + ")");
  std::vector<append_result> results;
  std::vector<caf::error> errors;
  for (int i = 0; i < 51; ++i) {
    auto reply = next_reply(self, 30s);
    BOOST_TEST_REQUIRE(reply.has_value(), "an append was never answered");
    if (auto* r = std::get_if<append_result>(&*reply)) {
      results.push_back(*r);
    } else {
      errors.push_back(std::get<caf::error>(*reply));
    }
  }
  BOOST_TEST_REQUIRE(errors.size() == 1u); // the doomed stream's append, and only it
  BOOST_TEST((errors.front() == store_errc::outcome_unknown), sys.render(errors.front()));
  for (const auto& r : results) {
    BOOST_TEST((r.status == append_status::committed));
  }
  BOOST_TEST(db.query_value("SELECT count(*) FROM events WHERE stream_id LIKE 'other/%'") == "50");
  held.tx.abort();
  // The killed connection's writer reconnects and commits again.
  BOOST_TEST(db.query_value("SELECT count(*) FROM events WHERE stream_id = 'doomed'") == "0");
  auto [after, after_errors] = send_all(self, j, {one_event("doomed", no_stream, 7)});
  BOOST_TEST(after_errors.empty());
  BOOST_TEST(after.size() == 1u);
}

BOOST_AUTO_TEST_SUITE_END()

namespace {

/// An append known to be in the log: acknowledged as committed, or answered outcome_unknown and
/// then found in the stream.
struct acknowledged {
  std::string stream;
  int64_t version;
  int64_t position;
  int64_t amount;
};

/// What the writers of the restart test saw; filled by their threads, checked on the main one.
struct restart_observations {
  std::mutex mtx;
  std::vector<acknowledged> written;
  /// Appends answered "nothing written", or outcome_unknown and then not found: never in the log.
  std::map<std::string, std::set<int64_t>> not_written;
  std::map<std::string, int> error_kinds;
  int errors = 0;
  int conflicts = 0;
  int unknown_found_committed = 0;
  int unresolved = 0;
};

} // namespace

BOOST_FIXTURE_TEST_CASE(
    postgres_crashed_mid_run_loses_no_acknowledged_append_and_writes_nothing_refused,
    journal_fixture) {
  auto jc = db.config().journal;
  jc.reconnect_min = 50ms;
  jc.reconnect_max = 500ms;
  auto j = start(jc);
  constexpr int writers = 8;
  std::atomic<bool> crashed{false};
  std::atomic<bool> stop{false};
  std::atomic<int> acked_before{0};
  std::atomic<int> acked_after{0};
  restart_observations seen;

  auto writer = [&](int w) {
    caf::scoped_actor self{sys};
    pg_event_store reader{db.pg(), jc};
    auto stream = "restart/" + std::to_string(w);
    int64_t version = no_stream;
    int64_t amount = 0;
    auto record = [&](auto&& f) {
      std::lock_guard<std::mutex> lock{seen.mtx};
      f();
    };
    // After outcome_unknown: once the stream can be read again (the crashed server is back, the
    // lost commit is settled), the append either is at version + 1 or is nowhere.
    auto resolve = [&](int64_t unknown_amount) {
      auto give_up = std::chrono::steady_clock::now() + 60s;
      while (std::chrono::steady_clock::now() < give_up) {
        auto next = reader.read_stream(stream, version + 1, 1);
        if (!next) {
          std::this_thread::sleep_for(50ms);
          continue;
        }
        record([&] {
          if (!next->empty() &&
              nlohmann::json::parse(next->front().payload).at("amount") == unknown_amount) {
            version = next->front().stream_version;
            seen.written.push_back(
                {stream, version, next->front().global_position, unknown_amount});
            seen.unknown_found_committed++;
          } else {
            seen.not_written[stream].insert(unknown_amount);
          }
        });
        return;
      }
      record([&] { seen.unresolved++; });
    };
    while (!stop) {
      ++amount;
      self->request(j, 20s, append_atom::value, one_event(stream, version, amount))
          .receive(
              [&](append_result r) {
                if (r.status != append_status::committed) {
                  // Every earlier outcome was settled before this append: nobody else writes here.
                  record([&] { seen.conflicts++; });
                  version = r.stream_version;
                  return;
                }
                version = r.stream_version;
                record([&] {
                  seen.written.push_back({stream, version, r.first_position, amount});
                });
                (crashed ? acked_after : acked_before)++;
              },
              [&](caf::error& e) {
                bool unknown = e == store_errc::outcome_unknown;
                record([&] {
                  seen.errors++;
                  seen.error_kinds[e == store_errc::unavailable ? "unavailable"
                                   : unknown                    ? "outcome_unknown"
                                                                : sys.render(e)]++;
                  if (!unknown) {
                    seen.not_written[stream].insert(amount);
                  }
                });
                if (unknown) {
                  resolve(amount);
                } else {
                  std::this_thread::sleep_for(20ms);
                }
              });
    }
  };
  std::vector<std::thread> threads;
  for (int w = 0; w < writers; ++w) {
    threads.emplace_back(writer, w);
  }
  auto deadline = std::chrono::steady_clock::now() + 90s;
  while (acked_before < 200 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  // A crash, not a clean stop: backends are killed mid-commit and the server recovers from WAL.
  testing::run_services("pg-crash-restart");
  crashed = true;
  while (acked_after < 200 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  stop = true;
  for (auto& t : threads) {
    t.join();
  }
  for (const auto& [kind, count] : seen.error_kinds) {
    BOOST_TEST_MESSAGE(count << " x " << kind);
    BOOST_TEST((kind == "unavailable" || kind == "outcome_unknown"), "unexpected error: " << kind);
  }
  BOOST_TEST_MESSAGE(seen.unknown_found_committed << " outcome_unknown appends had committed");
  BOOST_TEST(acked_before.load() >= 200);
  BOOST_TEST(acked_after.load() >= 200);
  BOOST_TEST(seen.errors > 0, "the writers never noticed the crash");
  BOOST_TEST(seen.conflicts == 0);
  BOOST_TEST(seen.unresolved == 0);

  // The log holds exactly what was acknowledged (or settled as written), at the acknowledged
  // versions and positions, and nothing answered as not written.
  pg_event_store check{db.pg(), jc};
  std::map<std::string, std::vector<recorded_event>> streams;
  for (int w = 0; w < writers; ++w) {
    auto name = "restart/" + std::to_string(w);
    streams[name] = check.read_stream(name, 1, 1000000).value();
  }
  size_t missing = 0;
  std::map<std::string, size_t> written_per_stream;
  for (const auto& a : seen.written) {
    const auto& events = streams[a.stream];
    auto at = static_cast<size_t>(a.version - 1);
    bool found = at < events.size() && events[at].global_position == a.position &&
                 nlohmann::json::parse(events[at].payload).at("amount") == a.amount;
    missing += found ? 0 : 1;
    written_per_stream[a.stream]++;
  }
  BOOST_TEST(missing == 0u);
  size_t refused_but_written = 0;
  size_t refused = 0;
  for (const auto& [name, events] : streams) {
    BOOST_TEST(events.size() == written_per_stream[name], name);
    const auto& absent = seen.not_written[name];
    refused += absent.size();
    for (const auto& e : events) {
      refused_but_written +=
          absent.count(nlohmann::json::parse(e.payload).at("amount").get<int64_t>());
    }
  }
  BOOST_TEST(refused_but_written == 0u);
  BOOST_TEST_MESSAGE(refused << " appends answered as not written, none in the log");
  caf::scoped_actor self{sys};
  BOOST_TEST(stats_of(self, j).appends >= seen.written.size() - seen.unknown_found_committed);
}
