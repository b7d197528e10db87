#define BOOST_TEST_MODULE reader
#include <boost/test/unit_test.hpp>

#include "core/actor_system.hpp"
#include "persistence/pg_event_store.hpp"
#include "persistence/reader.hpp"
#include "tests/support/pg_test_database.hpp"

#include <caf/all.hpp>
#include <pqxx/pqxx>

#include <optional>
#include <thread>

using namespace ordermesh;
using namespace ordermesh::persistence;
using namespace std::chrono_literals;

namespace {

struct reader_fixture {
  testing::pg_test_database db;
  caf::actor_system_config cfg;
  caf::actor_system sys{core::configure(cfg)};
  std::optional<reader_actor> reader;

  reader_actor start(uint32_t readers) {
    auto journal = db.config().journal;
    journal.readers = readers;
    reader = spawn_reader(sys, db.pg(), journal);
    return *reader;
  }

  ~reader_fixture() {
    if (reader) {
      caf::anon_send_exit(*reader, caf::exit_reason::user_shutdown); // its connections are linked
    }
  }
};

/// A transaction that holds the snapshots table locked, so that every recover (which reads the
/// stream's latest snapshot first) waits for it, until release().
struct snapshots_locked {
  pqxx::connection conn;
  std::optional<pqxx::work> tx;

  explicit snapshots_locked(const config::pg_config& pg)
      : conn{pg_event_store::connection_string(pg)} {
    tx.emplace(conn);
    tx->exec("LOCK TABLE snapshots IN ACCESS EXCLUSIVE MODE");
  }
  void release() { tx->abort(); }
};

/// Whether a read of the events table alone (an empty stream's catch-up) is answered within 5 s.
bool an_events_table_read_is_answered(caf::scoped_actor& self, const reader_actor& r) {
  bool answered = false;
  self->request(r, 5s, events_after_atom::value, std::string{"counter/b"}, int64_t{0})
      .receive([&](stream_history& h) { answered = h.events.empty(); },
               [&](caf::error& e) { BOOST_FAIL("events_after: " << to_string(e)); });
  return answered;
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(reader, reader_fixture)

BOOST_AUTO_TEST_CASE(a_read_that_waits_on_the_database_holds_up_no_other_read) {
  auto r = start(2);
  snapshots_locked lock{db.pg()};
  caf::scoped_actor self{sys};
  // Waits for the lock on one connection.
  auto stuck = self->request(r, 30s, recover_atom::value, std::string{"counter/a"});
  // Reads only the events table: answered on the other connection meanwhile.
  BOOST_TEST(an_events_table_read_is_answered(self, r));
  lock.release();
  bool recovered = false;
  stuck.receive([&](stream_history& h) { recovered = h.events.empty() && !h.has_snapshot; },
                [&](caf::error& e) { BOOST_FAIL("recover: " << to_string(e)); });
  BOOST_TEST(recovered);
}

BOOST_AUTO_TEST_CASE(a_snapshot_write_that_waits_on_the_database_holds_up_no_read) {
  auto r = start(2);
  snapshots_locked lock{db.pg()};
  caf::scoped_actor self{sys};
  // The upsert waits for the lock on the connection that took it.
  self->send(r, snapshot_atom::value, snapshot{"counter/s", 1, "counter.state.v1", 1, "{}"});
  BOOST_TEST(an_events_table_read_is_answered(self, r));
  lock.release();
  // Then the snapshot is stored.
  bool stored = false;
  for (int i = 0; i < 100 && !stored; ++i) {
    self->request(r, 5s, recover_atom::value, std::string{"counter/s"})
        .receive([&](stream_history& h) { stored = h.has_snapshot; },
                 [&](caf::error& e) { BOOST_FAIL("recover: " << to_string(e)); });
    if (!stored) {
      std::this_thread::sleep_for(50ms);
    }
  }
  BOOST_TEST(stored);
}

BOOST_AUTO_TEST_CASE(requests_beyond_the_connections_wait_their_turn_and_are_all_answered) {
  auto r = start(2);
  std::optional<snapshots_locked> lock;
  lock.emplace(db.pg());
  caf::scoped_actor self{sys};
  // Both connections wait on the lock; the rest queue at the reader.
  for (int i = 0; i < 6; ++i) {
    self->send(r, recover_atom::value, "counter/q" + std::to_string(i));
  }
  lock->release();
  int answered = 0;
  for (int i = 0; i < 6; ++i) {
    self->receive([&](stream_history& h) { answered += h.events.empty() ? 1 : 0; },
                  [&](caf::error& e) { BOOST_FAIL("recover: " << to_string(e)); },
                  caf::after(30s) >> [] { BOOST_FAIL("no answer within 30 s"); });
  }
  BOOST_TEST(answered == 6);
}

BOOST_AUTO_TEST_SUITE_END()
