#define BOOST_TEST_MODULE inventory_actor
#include <boost/test/unit_test.hpp>

#include "actors/inventory/actor.hpp"
#include "actors/runtime/entity.hpp"
#include "core/actor_system.hpp"
#include "persistence/journal.hpp"
#include "persistence/reader.hpp"
#include "tests/support/pg_test_database.hpp"

#include <caf/all.hpp>
#include <nlohmann/json.hpp>

#include <atomic>
#include <optional>
#include <thread>

using namespace ordermesh;
using namespace ordermesh::actors;
using namespace ordermesh::actors::inventory;
using namespace std::chrono_literals;

namespace {

runtime::host_settings fast_settings() {
  runtime::host_settings s;
  s.tick_interval = 50ms;
  s.idle_timeout = 400ms;
  return s;
}

struct inventory_fixture {
  testing::pg_test_database db;
  caf::actor_system_config cfg;
  caf::actor_system sys{core::configure(cfg)};
  persistence::journal_actor journal =
      persistence::spawn_journal(sys, db.pg(), db.config().journal);
  persistence::reader_actor reader = persistence::spawn_reader(sys, db.pg(), db.config().journal);
  caf::actor host;
  caf::scoped_actor self{sys};
  std::atomic<int> next_message{0};

  explicit inventory_fixture(runtime::host_settings settings = fast_settings()) {
    host = spawn_inventory_host(sys, journal, reader, settings);
  }

  ~inventory_fixture() {
    self->send_exit(host, caf::exit_reason::user_shutdown);
    self->send_exit(journal, caf::exit_reason::user_shutdown);
    self->send_exit(reader, caf::exit_reason::user_shutdown);
  }

  envelope env(std::string message_id = "") {
    envelope e;
    e.message_id = message_id.empty() ? "m-" + std::to_string(next_message++) : message_id;
    e.correlation_id = "test";
    return e;
  }

  /// Sends one command and waits for the reply; an error becomes a failed test unless expected.
  std::variant<inventory_reply, caf::error> send(const std::string& sku, envelope e,
                                                 caf::message cmd) {
    std::variant<inventory_reply, caf::error> out = caf::error{};
    self->request(host, 10s, runtime::route_atom::value, sku, std::move(e), std::move(cmd))
        .receive([&](inventory_reply& r) { out = r; }, [&](caf::error& err) { out = err; });
    return out;
  }

  inventory_reply ok(const std::string& sku, caf::message cmd, envelope e) {
    auto r = send(sku, std::move(e), std::move(cmd));
    if (auto* err = std::get_if<caf::error>(&r)) {
      BOOST_FAIL("command failed: " << sys.render(*err));
    }
    return std::get<inventory_reply>(r);
  }
  inventory_reply ok(const std::string& sku, caf::message cmd) {
    return ok(sku, std::move(cmd), env());
  }

  /// The inventory_errc of a command the inventory must reject; fails the test if it did not.
  inventory_errc rejected(const std::string& sku, caf::message cmd) {
    auto r = send(sku, env(), std::move(cmd));
    const auto* err = std::get_if<caf::error>(&r);
    BOOST_REQUIRE_MESSAGE(err != nullptr, "the command was accepted");
    auto code = runtime::rejection_code<inventory_errc>(*err);
    BOOST_REQUIRE_MESSAGE(code.has_value(), "not a rejection: " << sys.render(*err));
    return *code;
  }

  int64_t available(const std::string& sku) {
    // Expires what is past due (the entity's own tick does the same) and reports the stock.
    return ok(sku, caf::make_message(expire_reservations{})).summary.available;
  }

  std::string count_events(const std::string& type) {
    return db.query_value("SELECT count(*) FROM events WHERE event_type = '" + type + "'");
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(inventory_actor, inventory_fixture)

BOOST_AUTO_TEST_CASE(restock_and_reserve_reply_after_the_events_are_durable) {
  auto r = ok("sku-1", caf::make_message(restock{10}));
  BOOST_TEST((r.recorded == std::vector<inventory_recorded>{inventory_recorded::restocked}));
  BOOST_TEST(r.version == 1);
  auto reserved = ok("sku-1", caf::make_message(reserve{"o-1", 3, 60000}));
  BOOST_TEST((reserved.recorded == std::vector<inventory_recorded>{inventory_recorded::reserved}));
  BOOST_TEST((reserved.summary == inventory_summary{10, 3, 7, 1}));
  BOOST_TEST(db.query_value("SELECT count(*) FROM events WHERE stream_id = 'inventory/sku-1'") ==
             "2");
  BOOST_TEST((rejected("sku-1", caf::make_message(reserve{"o-2", 0, 60000})) ==
              inventory_errc::invalid_quantity));
  BOOST_TEST(db.query_value("SELECT count(*) FROM events WHERE stream_id = 'inventory/sku-1'") ==
             "2");
}

BOOST_AUTO_TEST_CASE(a_return_resent_under_new_message_ids_restocks_once) {
  ok("sku-ret", caf::make_message(restock{10}));
  ok("sku-ret", caf::make_message(reserve{"o-ret", 4, 60000}));
  ok("sku-ret", caf::make_message(commit{"o-ret"}));
  BOOST_TEST(available("sku-ret") == 6);
  auto first = ok("sku-ret", caf::make_message(return_committed{"o-ret", 4}));
  BOOST_TEST((first.recorded == std::vector<inventory_recorded>{inventory_recorded::returned}));
  // Each resend carries an id the dedupe record does not know (as after its window).
  for (int i = 0; i < 3; ++i) {
    auto again = ok("sku-ret", caf::make_message(return_committed{"o-ret", 4}));
    BOOST_TEST(again.recorded.empty());
  }
  BOOST_TEST(available("sku-ret") == 10);
  BOOST_TEST(count_events(wire::returned) == "1");
}

BOOST_AUTO_TEST_CASE(a_redelivered_command_returns_the_first_outcome_and_appends_nothing) {
  ok("sku-d", caf::make_message(restock{5}));
  auto first = ok("sku-d", caf::make_message(reserve{"o-1", 2, 60000}), env("reserve-once"));
  auto again = ok("sku-d", caf::make_message(reserve{"o-1", 2, 60000}), env("reserve-once"));
  // The same outcome, marked as a repeat: this delivery recorded nothing (a take's answer tells
  // the order whether it committed the units now, order::took_now).
  BOOST_TEST(!first.repeated);
  BOOST_TEST(again.repeated);
  again.repeated = false;
  BOOST_TEST((again == first));
  BOOST_TEST(count_events(wire::reserved) == "1");
  BOOST_TEST(db.query_value("SELECT max(stream_version) FROM events") == "2");
}

// The order marks its first sale first only if some take committed its units in this answer
// (order::took_now): a redelivered take and a take repeated under a new id both say repeated.
BOOST_AUTO_TEST_CASE(a_take_says_whether_this_delivery_committed_the_units) {
  ok("sku-t", caf::make_message(restock{5}));
  auto first = ok("sku-t", caf::make_message(commit{"o-t", 2}), env("o-t/take/sku-t"));
  BOOST_TEST((first.recorded == std::vector<inventory_recorded>{inventory_recorded::committed}));
  BOOST_TEST(!first.repeated);
  auto redelivered = ok("sku-t", caf::make_message(commit{"o-t", 2}), env("o-t/take/sku-t"));
  BOOST_TEST((redelivered.recorded == first.recorded));
  BOOST_TEST(redelivered.repeated);
  auto repeated = ok("sku-t", caf::make_message(commit{"o-t", 2}));
  BOOST_TEST(repeated.recorded.empty());
  BOOST_TEST(repeated.repeated);
  BOOST_TEST(available("sku-t") == 3);
}

BOOST_AUTO_TEST_CASE(a_command_past_its_deadline_is_dropped_with_a_typed_error) {
  auto e = env();
  e.deadline_us = runtime::unix_now_us() - 1000;
  auto r = send("sku-late", e, caf::make_message(restock{5}));
  BOOST_REQUIRE(std::holds_alternative<caf::error>(r));
  BOOST_TEST((std::get<caf::error>(r) == runtime::entity_errc::deadline_exceeded));
  BOOST_TEST(db.query_value("SELECT count(*) FROM events") == "0");
}

BOOST_AUTO_TEST_CASE(a_message_that_is_no_inventory_command_is_rejected) {
  auto r = send("sku-x", env(), caf::make_message(std::string{"hello"}));
  BOOST_REQUIRE(std::holds_alternative<caf::error>(r));
  BOOST_TEST((std::get<caf::error>(r) == runtime::entity_errc::unknown_command));
}

BOOST_AUTO_TEST_CASE(a_killed_entity_restarts_from_its_events_with_the_same_state) {
  ok("sku-k", caf::make_message(restock{50}));
  for (int i = 0; i < 10; ++i) {
    ok("sku-k", caf::make_message(reserve{"o-" + std::to_string(i), 2, 60000}));
  }
  auto before = ok("sku-k", caf::make_message(release{"o-3"}));
  self->send(host, runtime::kill_atom::value, "sku-k");
  std::this_thread::sleep_for(200ms);                          // the restart back-off
  auto after = ok("sku-k", caf::make_message(release{"o-3"})); // idempotent: no event
  BOOST_TEST(after.recorded.empty());
  BOOST_TEST(after.version == before.version);
  BOOST_TEST((after.summary == before.summary));
  std::vector<runtime::entity_info> entities;
  self->request(host, 5s, caf::get_atom::value, runtime::entities_atom::value)
      .receive([&](std::vector<runtime::entity_info>& xs) { entities = xs; }, [](caf::error&) {});
  BOOST_REQUIRE_EQUAL(entities.size(), 1u);
  BOOST_TEST(entities[0].crashes == 1u);
  BOOST_TEST(entities[0].status == "running");
  BOOST_TEST(entities[0].version == after.version);
  BOOST_TEST(entities[0].mailbox_depth == 0u);
}

BOOST_AUTO_TEST_CASE(two_thousand_concurrent_buyers_of_one_hundred_units_never_oversell) {
  ok("hot", caf::make_message(restock{100}));
  constexpr int buyers = 2000;
  constexpr int threads = 8;
  std::atomic<int> reserved{0};
  std::atomic<int> rejected{0};
  std::atomic<int> failed{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < threads; ++t) {
    clients.emplace_back([&, t] {
      caf::scoped_actor client{sys};
      int mine = buyers / threads;
      for (int i = 0; i < mine; ++i) {
        auto id = "order-" + std::to_string(t) + "-" + std::to_string(i);
        client->send(host, runtime::route_atom::value, std::string{"hot"}, env(),
                     caf::make_message(reserve{id, 1, 60000}));
      }
      for (int i = 0; i < mine; ++i) {
        client->receive(
            [&](inventory_reply& r) {
              if (r.recorded == std::vector<inventory_recorded>{inventory_recorded::reserved}) {
                ++reserved;
              } else if (r.recorded == std::vector<inventory_recorded>{
                                           inventory_recorded::reservation_rejected}) {
                ++rejected;
              } else {
                ++failed;
              }
            },
            [&](caf::error&) { ++failed; }, caf::after(60s) >> [&] { ++failed; });
      }
    });
  }
  for (auto& c : clients) {
    c.join();
  }
  BOOST_TEST(reserved.load() == 100);
  BOOST_TEST(rejected.load() == 1900);
  BOOST_TEST(failed.load() == 0);
  BOOST_TEST(available("hot") == 0);
  BOOST_TEST(count_events(wire::reserved) == "100");
  BOOST_TEST(count_events(wire::reservation_rejected) == "1900");
  // The entity decided whole mailbox batches into single appends.
  auto appends = std::stoll(db.query_value(
      "SELECT count(DISTINCT xmin::text) FROM events WHERE stream_id = 'inventory/hot'"));
  BOOST_TEST_MESSAGE("2001 commands in " << appends << " appends");
  BOOST_TEST(appends < 2001);
}

BOOST_AUTO_TEST_CASE(an_idle_entity_passivates_and_comes_back_with_its_state) {
  ok("sku-p", caf::make_message(restock{7}));
  std::this_thread::sleep_for(100ms);
  std::vector<runtime::entity_info> entities{{}};
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (!entities.empty() && std::chrono::steady_clock::now() < deadline) {
    self->request(host, 5s, caf::get_atom::value, runtime::entities_atom::value)
        .receive([&](std::vector<runtime::entity_info>& xs) { entities = xs; }, [](caf::error&) {});
    std::this_thread::sleep_for(50ms);
  }
  BOOST_TEST(entities.empty());
  BOOST_TEST(available("sku-p") == 7);
}

BOOST_AUTO_TEST_CASE(a_reservation_not_committed_in_time_expires_and_frees_its_units) {
  ok("sku-t", caf::make_message(restock{5}));
  ok("sku-t", caf::make_message(reserve{"o-slow", 3, 100}));
  BOOST_TEST(available("sku-t") == 2);
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (count_events(wire::reservation_expired) == "0" &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
  }
  BOOST_TEST(count_events(wire::reservation_expired) == "1");
  BOOST_TEST(available("sku-t") == 5);
  BOOST_TEST((rejected("sku-t", caf::make_message(commit{"o-slow"})) ==
              inventory_errc::reservation_expired));
}

BOOST_AUTO_TEST_SUITE_END()

namespace {

runtime::host_settings strict_settings() {
  auto s = fast_settings();
  s.max_queue = 4;
  s.max_crashes = 3;
  s.restart_backoff = 10ms;
  return s;
}

struct strict_fixture : inventory_fixture {
  strict_fixture() : inventory_fixture(strict_settings()) {}
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(inventory_limits, strict_fixture)

BOOST_AUTO_TEST_CASE(a_full_entity_queue_answers_overloaded_and_loses_nothing_it_accepted) {
  ok("busy", caf::make_message(restock{1000}));
  for (int i = 0; i < 200; ++i) {
    self->send(host, runtime::route_atom::value, std::string{"busy"}, env(),
               caf::make_message(reserve{"o-" + std::to_string(i), 1, 60000}));
  }
  int accepted = 0;
  int overloaded = 0;
  for (int i = 0; i < 200; ++i) {
    self->receive(
        [&](inventory_reply&) { accepted += 1; },
        [&](caf::error& e) { overloaded += e == runtime::entity_errc::overloaded ? 1 : 0; },
        caf::after(30s) >> [] {});
  }
  BOOST_TEST(overloaded > 0);
  BOOST_TEST(accepted + overloaded == 200);
  BOOST_TEST(count_events(wire::reserved) == std::to_string(accepted));
}

BOOST_AUTO_TEST_CASE(an_entity_that_keeps_crashing_is_parked_and_refuses_commands) {
  ok("fragile", caf::make_message(restock{1}));
  for (int crash = 0; crash < 3; ++crash) {
    self->send(host, runtime::kill_atom::value, std::string{"fragile"});
    std::this_thread::sleep_for(150ms); // longer than the back-off: each incarnation dies
    if (crash < 2) {
      ok("fragile", caf::make_message(restock{1})); // the restarted entity works
    }
  }
  auto r = send("fragile", env(), caf::make_message(restock{1}));
  BOOST_REQUIRE(std::holds_alternative<caf::error>(r));
  BOOST_TEST((std::get<caf::error>(r) == runtime::entity_errc::parked));
  std::vector<runtime::entity_info> entities;
  self->request(host, 5s, caf::get_atom::value, runtime::entities_atom::value)
      .receive([&](std::vector<runtime::entity_info>& xs) { entities = xs; }, [](caf::error&) {});
  BOOST_REQUIRE_EQUAL(entities.size(), 1u);
  BOOST_TEST(entities[0].status == "parked");
  BOOST_TEST(entities[0].crashes == 3u);
  BOOST_TEST(count_events(wire::restocked) == "3"); // nothing recorded once parked
}

BOOST_AUTO_TEST_SUITE_END()

namespace {

runtime::host_settings slow_restart_settings() {
  auto s = fast_settings();
  s.restart_backoff = 3s; // long enough to watch the host keep commands meanwhile
  return s;
}

struct slow_restart_fixture : inventory_fixture {
  slow_restart_fixture() : inventory_fixture(slow_restart_settings()) {}

  /// The host's view of one entity, or nullopt if it has none.
  std::optional<runtime::entity_info> entity(const std::string& id) {
    std::optional<runtime::entity_info> out;
    self->request(host, 5s, caf::get_atom::value, runtime::entities_atom::value)
        .receive(
            [&](std::vector<runtime::entity_info>& xs) {
              for (auto& x : xs) {
                if (x.id == id) {
                  out = x;
                }
              }
            },
            [](caf::error&) {});
    return out;
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(inventory_restart, slow_restart_fixture)

BOOST_AUTO_TEST_CASE(commands_sent_while_an_entity_restarts_are_kept_and_answered) {
  ok("sku-r", caf::make_message(restock{10}));
  self->send(host, runtime::kill_atom::value, std::string{"sku-r"});
  for (int i = 0; i < 5; ++i) {
    self->send(host, runtime::route_atom::value, std::string{"sku-r"}, env(),
               caf::make_message(reserve{"o-" + std::to_string(i), 1, 60000}));
  }
  // Wait (bounded by the back-off) until the host shows the entity restarting with all five
  // commands kept: they arrived during the back-off, not after the restart.
  bool kept_during_backoff = false;
  auto until = std::chrono::steady_clock::now() + 2500ms;
  while (!kept_during_backoff && std::chrono::steady_clock::now() < until) {
    auto e = entity("sku-r");
    kept_during_backoff = e && e->status == "restarting" && e->mailbox_depth == 5u;
  }
  BOOST_REQUIRE(kept_during_backoff);
  std::vector<inventory_reply> replies;
  for (int i = 0; i < 5; ++i) {
    self->receive([&](inventory_reply& r) { replies.push_back(r); },
                  [&](caf::error& e) { BOOST_FAIL("lost: " << sys.render(e)); },
                  caf::after(10s) >> [&] { BOOST_FAIL("no answer"); });
  }
  BOOST_TEST(replies.size() == 5u);
  for (const auto& r : replies) {
    BOOST_TEST((r.recorded == std::vector<inventory_recorded>{inventory_recorded::reserved}));
  }
  BOOST_TEST(available("sku-r") == 5);
  BOOST_TEST(entity("sku-r")->crashes == 1u);
}

BOOST_AUTO_TEST_SUITE_END()
