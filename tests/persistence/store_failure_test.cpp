#define BOOST_TEST_MODULE store_failure
#include <boost/test/unit_test.hpp>

#include "persistence/result.hpp"
#include "persistence/store_health.hpp"

using namespace ordermesh::persistence;

namespace {

std::string classify(std::string_view sqlstate, bool connection_open, bool writes) {
  return to_string(classify_failure(sqlstate, connection_open, writes));
}

} // namespace

BOOST_AUTO_TEST_CASE(a_write_answered_with_a_shutdown_or_crash_code_is_outcome_unknown) {
  // 57P01 admin shutdown / pg_terminate_backend, 57P02 crash shutdown: the answer can come after
  // the commit, so the write may have happened.
  for (auto code : {"57P01", "57P02", "57P03", "08006", "08003"}) {
    BOOST_TEST(classify(code, false, true) == "outcome_unknown", code);
    BOOST_TEST(classify(code, true, true) == "outcome_unknown", code);
  }
}

BOOST_AUTO_TEST_CASE(a_write_whose_connection_broke_is_outcome_unknown_whatever_the_code) {
  BOOST_TEST(classify("", false, true) == "outcome_unknown");
  BOOST_TEST(classify("XX000", false, true) == "outcome_unknown");
}

BOOST_AUTO_TEST_CASE(a_read_that_lost_its_connection_is_unavailable) {
  for (auto code : {"", "57P01", "57P02", "08006"}) {
    BOOST_TEST(classify(code, false, false) == "unavailable", code);
  }
  BOOST_TEST(classify("XX000", false, false) == "unavailable");
}

BOOST_AUTO_TEST_CASE(a_statement_the_server_refused_on_a_live_connection_is_rejected) {
  for (bool writes : {true, false}) {
    BOOST_TEST(classify("22P02", true, writes) == "rejected"); // invalid JSON text
    BOOST_TEST(classify("23505", true, writes) == "rejected"); // unique violation
  }
}

BOOST_AUTO_TEST_CASE(a_server_that_cannot_write_now_is_unavailable_not_a_rejected_statement) {
  // Nothing was written, and the same statement would fail for any content: the whole batch is
  // unavailable (not split append by append) and counts as a failure to reach the database.
  for (auto code : {"25006",  // read-only transaction (a standby after failover)
                    "53100",  // disk full
                    "53200",  // out of memory
                    "53300",  // too many connections
                    "57014",  // statement timeout / query cancelled
                    "55P03",  // lock not available
                    "58030",  // I/O error
                    "XX000"}) // internal error
  {
    BOOST_TEST(classify(code, true, true) == "unavailable", code);
    BOOST_TEST(classify(code, true, false) == "unavailable", code);
  }
}

BOOST_AUTO_TEST_CASE(
    a_statement_rolled_back_for_a_deadlock_or_serialization_failure_is_unavailable) {
  // Nothing was written and running it again may succeed: not a bad request.
  for (bool writes : {true, false}) {
    BOOST_TEST(classify("40P01", true, writes) == "unavailable");
    BOOST_TEST(classify("40001", true, writes) == "unavailable");
  }
  BOOST_TEST(rolled_back("40P01"));
  BOOST_TEST(rolled_back("40001"));
  BOOST_TEST(!rolled_back("40003")); // statement completion unknown: not known to be undone
  BOOST_TEST(!rolled_back("23505"));
  BOOST_TEST(classify("40003", true, true) == "outcome_unknown");
}

BOOST_AUTO_TEST_CASE(health_counts_only_failures_to_reach_the_database_until_a_success) {
  store_health health;
  BOOST_TEST(health.running());
  BOOST_TEST(health.reachable());
  health.record_failure({store_errc::rejected, "not JSON"});
  BOOST_TEST(health.reachable());
  health.record_failure({store_errc::unavailable, "down"});
  health.record_failure({store_errc::outcome_unknown, "cut off"});
  BOOST_TEST(!health.reachable());
  BOOST_TEST(health.consecutive_failures() == 2u);
  BOOST_TEST(health.last_error().detail == "cut off");
  health.record_success();
  BOOST_TEST(health.reachable());
  BOOST_TEST((health.last_error().code == store_errc::nil));
  health.record_stopped();
  BOOST_TEST(!health.running());
}
