#define BOOST_TEST_MODULE gap_tracker
#include <boost/test/unit_test.hpp>

#include "persistence/gap_tracker.hpp"
#include "persistence/sql_array.hpp"

using namespace ordermesh::persistence;

namespace {

db_snapshot idle(uint64_t xid) {
  return db_snapshot{xid, xid, {}};
}

db_snapshot busy(std::vector<uint64_t> running) {
  return db_snapshot{running.front(), running.back() + 1, running};
}

} // namespace

BOOST_AUTO_TEST_CASE(parses_a_snapshot_with_transactions_in_progress) {
  auto s = parse_db_snapshot("100:105:103,101");
  BOOST_REQUIRE(s.has_value());
  BOOST_TEST(s->xmin == 100u);
  BOOST_TEST(s->xmax == 105u);
  BOOST_TEST(s->in_progress == (std::vector<uint64_t>{101, 103}));
}

BOOST_AUTO_TEST_CASE(parses_a_snapshot_with_nothing_in_progress) {
  auto s = parse_db_snapshot("7:7:");
  BOOST_REQUIRE(s.has_value());
  BOOST_TEST(s->in_progress.empty());
}

BOOST_AUTO_TEST_CASE(rejects_malformed_snapshots) {
  for (auto text : {"", "1", "1:2", "a:2:", "5:2:", "1:2:x", "1:2:3,", "1:2:,3"}) {
    BOOST_TEST(!parse_db_snapshot(text).has_value(), "accepted '" << text << "'");
  }
}

BOOST_AUTO_TEST_CASE(delivers_contiguous_positions_even_while_transactions_run) {
  gap_tracker gaps;
  gaps.observe(busy({50}), 3);
  BOOST_TEST(gaps.deliverable(0, 1));
  BOOST_TEST(gaps.deliverable(1, 2));
}

BOOST_AUTO_TEST_CASE(holds_back_an_event_after_a_gap_while_its_writer_may_still_commit) {
  gap_tracker gaps;
  // Position 2 is missing, 3 is visible, and a transaction is still in progress.
  gaps.observe(busy({50}), 3);
  BOOST_TEST(!gaps.deliverable(1, 3));
  // Later reads keep holding it while that transaction runs, even as new ones start.
  gaps.observe(busy({50, 51, 52}), 9);
  BOOST_TEST(!gaps.deliverable(1, 3));
}

BOOST_AUTO_TEST_CASE(releases_the_gap_once_every_transaction_that_could_fill_it_has_ended) {
  gap_tracker gaps;
  gaps.observe(busy({50}), 3);
  // 50 ended (committed position 2 or rolled back); 51 started later and cannot hold position 2.
  gaps.observe(busy({51}), 4);
  BOOST_TEST(gaps.final_through() == 3);
  BOOST_TEST(gaps.deliverable(1, 3));
  BOOST_TEST(!gaps.deliverable(3, 5)); // 4 may still belong to 51
}

BOOST_AUTO_TEST_CASE(a_quiet_database_makes_every_visible_position_final) {
  gap_tracker gaps;
  gaps.observe(idle(60), 10);
  BOOST_TEST(gaps.final_through() == 10);
  BOOST_TEST(gaps.deliverable(1, 10));
}

BOOST_AUTO_TEST_CASE(steady_load_does_not_starve_the_horizon) {
  gap_tracker gaps;
  // Every read sees some transaction in progress, but never the same one twice in a row.
  gaps.observe(busy({100}), 10);
  gaps.observe(busy({101}), 20);
  BOOST_TEST(gaps.final_through() == 10);
  gaps.observe(busy({102}), 30);
  BOOST_TEST(gaps.final_through() == 20);
  gaps.observe(busy({103}), 40);
  BOOST_TEST(gaps.final_through() == 30);
}

BOOST_AUTO_TEST_CASE(starts_from_a_checkpoint_as_final) {
  gap_tracker gaps{42};
  BOOST_TEST(gaps.final_through() == 42);
  gaps.observe(busy({7}), 40);
  BOOST_TEST(gaps.final_through() == 42);
}

BOOST_AUTO_TEST_CASE(encodes_text_arrays_with_quotes_and_backslashes_escaped) {
  BOOST_TEST(sql_text_array({}) == "{}");
  BOOST_TEST(sql_text_array({"a", "b c", "q\"x", "back\\slash", "{\"k\": 1}", ""}) ==
             R"({"a","b c","q\"x","back\\slash","{\"k\": 1}",""})");
  BOOST_TEST(sql_int_array({1, -2, 30000000000}) == "{1,-2,30000000000}");
}
