// util/fail_point.hpp: the setting it reads from OM_FAIL_POINT, and that an armed point
// ends a real process with its exit code at the n-th hit and not before.

#define BOOST_TEST_MODULE system_fail_point
#include <boost/test/unit_test.hpp>

#include "tests/support/child_process.hpp"
#include "util/fail_point.hpp"

using namespace ordermesh;
using namespace std::chrono_literals;

BOOST_AUTO_TEST_CASE(a_name_with_an_optional_hit_count_arms_a_point) {
  auto plain = util::parse_fail_point("journal.committed_before_reply");
  BOOST_TEST(plain.armed);
  BOOST_TEST(plain.name == "journal.committed_before_reply");
  BOOST_TEST(plain.nth == 1u);
  auto counted = util::parse_fail_point("order.x:17");
  BOOST_TEST(counted.armed);
  BOOST_TEST(counted.name == "order.x");
  BOOST_TEST(counted.nth == 17u);
}

BOOST_AUTO_TEST_CASE(an_empty_or_malformed_setting_arms_nothing) {
  for (const char* text : {"", ":3", "a:", "a:0", "a:x", "a:-1"}) {
    BOOST_TEST(!util::parse_fail_point(text).armed, text);
  }
  BOOST_TEST(!util::parse_fail_point(nullptr).armed);
}

BOOST_AUTO_TEST_CASE(an_unarmed_point_does_nothing) {
  // This test process has no OM_FAIL_POINT: passing points must not end it.
  BOOST_TEST_REQUIRE(std::getenv(util::fail_point_variable) == nullptr);
  for (int i = 0; i < 1000; ++i) {
    util::fail_point("journal.committed_before_reply");
  }
}

BOOST_AUTO_TEST_CASE(an_armed_point_ends_the_process_at_its_nth_hit) {
  // fail_point_child.cpp passes "test.point" five times, saying so after each.
  testing::child_process child{{OM_FAIL_POINT_CHILD},
                               {{util::fail_point_variable, "test.point:3"}}};
  auto status = child.wait_exit(30s);
  BOOST_TEST_REQUIRE(status.has_value());
  BOOST_TEST(status->code.value_or(-1) == util::fail_point_exit_code, status->describe());
  const auto out = child.output();
  BOOST_TEST(out.find("passed 2") != std::string::npos, out);
  BOOST_TEST(out.find("passed 3") == std::string::npos, out);
  BOOST_TEST(out.find("fail point reached, exiting: test.point:3") != std::string::npos, out);
}

BOOST_AUTO_TEST_CASE(a_point_armed_under_another_name_is_passed) {
  testing::child_process child{{OM_FAIL_POINT_CHILD}, {{util::fail_point_variable, "other:1"}}};
  auto status = child.wait_exit(30s);
  BOOST_TEST_REQUIRE(status.has_value());
  BOOST_TEST(status->success(), status->describe());
  BOOST_TEST(child.output().find("passed 5") != std::string::npos, child.output());
}
