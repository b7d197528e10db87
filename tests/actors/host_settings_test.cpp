#define BOOST_TEST_MODULE host_settings
#include <boost/test/unit_test.hpp>

#include "actors/system.hpp"
#include "config/config.hpp"

using namespace ordermesh;
using namespace std::chrono_literals;

// host_settings is the runtime's own copy of the entity settings (the runtime does not depend on
// config/): every configured field must arrive, and the defaults must agree.

BOOST_AUTO_TEST_CASE(host_settings_from_copies_every_configured_entity_setting) {
  config::entity_config entity;
  entity.idle_timeout = 1001ms;
  entity.tick_interval = 1002ms;
  entity.max_queue = 1003;
  entity.max_host_queue = 1004;
  entity.max_batch = 1005;
  entity.snapshot_every = 1006;
  entity.restart_backoff = 1007ms;
  entity.max_crashes = 1008;
  entity.crash_window = 1009ms;
  auto s = actors::host_settings_from(entity);
  BOOST_TEST(s.idle_timeout.count() == 1001);
  BOOST_TEST(s.tick_interval.count() == 1002);
  BOOST_TEST(s.max_queue == 1003u);
  BOOST_TEST(s.max_host_queue == 1004u);
  BOOST_TEST(s.max_batch == 1005u);
  BOOST_TEST(s.snapshot_every == 1006u);
  BOOST_TEST(s.restart_backoff.count() == 1007);
  BOOST_TEST(s.max_crashes == 1008u);
  BOOST_TEST(s.crash_window.count() == 1009);
  // The fields only code sets keep their defaults.
  BOOST_TEST(s.batch_commands);
}

BOOST_AUTO_TEST_CASE(host_settings_defaults_are_the_configured_defaults) {
  config::entity_config entity;
  actors::runtime::host_settings s;
  BOOST_TEST(s.idle_timeout.count() == entity.idle_timeout.count());
  BOOST_TEST(s.tick_interval.count() == entity.tick_interval.count());
  BOOST_TEST(s.max_queue == entity.max_queue);
  BOOST_TEST(s.max_host_queue == entity.max_host_queue);
  BOOST_TEST(s.max_batch == entity.max_batch);
  BOOST_TEST(s.snapshot_every == entity.snapshot_every);
  BOOST_TEST(s.restart_backoff.count() == entity.restart_backoff.count());
  BOOST_TEST(s.max_crashes == entity.max_crashes);
  BOOST_TEST(s.crash_window.count() == entity.crash_window.count());
}
