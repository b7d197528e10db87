#pragma once

#include "persistence/pg_event_store.hpp"
#include "tests/support/pg_test_database.hpp"

#include <boost/test/unit_test.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace ordermesh::testing {

/// A fresh migrated database and an event store on it, for tests that write events directly.
struct event_store_fixture {
  pg_test_database db;
  persistence::pg_event_store store{db.pg(), db.config().journal};

  /// Appends to a stream whose current version is `expected`; fails the test unless committed.
  void append(std::string stream, int64_t expected, std::vector<persistence::new_event> events) {
    auto r =
        store.append({persistence::stream_append{std::move(stream), expected, std::move(events)}});
    BOOST_REQUIRE_MESSAGE(r, (r ? "" : r.error().detail));
    BOOST_REQUIRE((r->front().status == persistence::append_status::committed));
  }

  /// Waits (up to 30 s) until a subscription can read every committed event: it reads only below
  /// the oldest transaction still writing anywhere on the server, and other tests write meanwhile.
  void wait_until_every_event_is_readable() {
    for (int round = 0; round < 3000; ++round) {
      if (db.query_value("SELECT NOT EXISTS (SELECT 1 FROM events WHERE transaction_id >= "
                         "pg_snapshot_xmin(pg_current_snapshot()))") == "t") {
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    BOOST_FAIL("committed events stayed unreadable for 30 s: a transaction is left open");
  }
};

} // namespace ordermesh::testing
