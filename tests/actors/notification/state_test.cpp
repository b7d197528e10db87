#define BOOST_TEST_MODULE notification_state
#include <boost/test/unit_test.hpp>

#include "actors/notification/codec.hpp"
#include "actors/notification/state.hpp"

#include <vector>

using namespace ordermesh::actors;
using namespace ordermesh::actors::notification;

namespace {

const decide_context ctx{1'700'000'000'000'000, 0.0};

notification_state given(const std::vector<event>& events) {
  return apply_all(notification_state{}, events);
}

notification_decision when(const std::vector<event>& history, const command& cmd) {
  return decide(given(history), cmd, ctx);
}

bool rejected_with(const notification_decision& d, notification_errc code) {
  return d.rejected && d.rejected->code == static_cast<uint8_t>(code) && d.events.empty();
}

bool accepted_with(const notification_decision& d, const std::vector<event>& events) {
  return d.accepted() && d.events == events;
}

} // namespace

BOOST_AUTO_TEST_CASE(records_the_first_notification_of_a_finished_order) {
  for (auto status :
       {terminal_status::confirmed, terminal_status::rejected, terminal_status::cancelled}) {
    BOOST_CHECK(accepted_with(when({}, record_notification{"o1", status}),
                              {notification_recorded{"o1", status}}));
  }
  auto s = given({notification_recorded{"o1", terminal_status::cancelled}});
  BOOST_CHECK(s.notified);
  BOOST_CHECK(s.status == terminal_status::cancelled);
  BOOST_TEST(s.order_id == "o1");
}

BOOST_AUTO_TEST_CASE(a_second_notification_of_the_same_order_records_nothing) {
  BOOST_CHECK(accepted_with(when({notification_recorded{"o1", terminal_status::confirmed}},
                                 record_notification{"o1", terminal_status::confirmed}),
                            {}));
}

BOOST_AUTO_TEST_CASE(rejects_a_second_notification_with_another_status) {
  BOOST_CHECK(rejected_with(when({notification_recorded{"o1", terminal_status::confirmed}},
                                 record_notification{"o1", terminal_status::cancelled}),
                            notification_errc::conflicting_notification));
}

BOOST_AUTO_TEST_CASE(rejects_a_notification_without_an_order_or_for_another_order) {
  BOOST_CHECK(rejected_with(when({}, record_notification{"", terminal_status::confirmed}),
                            notification_errc::invalid_notification));
  BOOST_CHECK(rejected_with(when({notification_recorded{"o1", terminal_status::confirmed}},
                                 record_notification{"o2", terminal_status::confirmed}),
                            notification_errc::invalid_notification));
}

BOOST_AUTO_TEST_CASE(stops_restarts_and_has_the_same_state) {
  auto live = given({notification_recorded{"o1", terminal_status::rejected}});
  auto snapshot = decode_snapshot(encode_snapshot(live));
  BOOST_REQUIRE(snapshot);
  BOOST_CHECK(*snapshot == live);
  auto empty = decode_snapshot(encode_snapshot(notification_state{}));
  BOOST_REQUIRE(empty);
  BOOST_CHECK(apply_all(*empty, {notification_recorded{"o1", terminal_status::rejected}}) == live);
}

BOOST_AUTO_TEST_CASE(a_notification_is_finished_once_recorded) {
  BOOST_CHECK(!finished(notification_state{}));
  BOOST_CHECK(finished(given({notification_recorded{"o1", terminal_status::confirmed}})));
}
