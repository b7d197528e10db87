#pragma once

#include "persistence/pg_event_store.hpp"
#include "tests/support/pg_test_database.hpp"

#include <boost/test/unit_test.hpp>

#include <cstdint>
#include <string>
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
};

} // namespace ordermesh::testing
