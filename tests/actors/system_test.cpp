// The node's core components (journal writer, reader, PSP gateway) are supervised: killed, each
// comes back behind the same handle, and the node's status says it was down meanwhile.
// Real PostgreSQL; the PSP stand-in on a loopback socket.

#define BOOST_TEST_MODULE actors_system
#include <boost/test/unit_test.hpp>

#include "actors/inventory/messages.hpp"
#include "actors/inventory/replies.hpp"
#include "actors/payment/psp_gateway.hpp"
#include "actors/runtime/messages.hpp"
#include "actors/system.hpp"
#include "core/actor_system.hpp"
#include "persistence/pg_event_store.hpp"
#include "psp/server.hpp"
#include "tests/support/pg_test_database.hpp"

#include <caf/all.hpp>
#include <pqxx/pqxx>

#include <chrono>
#include <future>
#include <optional>
#include <string>
#include <thread>

using namespace ordermesh;
using namespace ordermesh::actors;
using namespace std::chrono_literals;

namespace {

/// Polls `fn` every 10 ms until it is true or `timeout` passed; then one last try.
template <class F>
bool eventually(F fn, std::chrono::milliseconds timeout = 20s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (fn()) {
      return true;
    }
    std::this_thread::sleep_for(10ms);
  }
  return fn();
}

struct node_fixture {
  testing::pg_test_database db;
  config::app_config cfg = db.config();
  psp::psp_server psp_server{[this] {
    cfg.psp.port = 0;
    return cfg.psp;
  }()};
  caf::actor_system_config caf_cfg;
  caf::actor_system sys{core::configure(caf_cfg)};
  node_actors node;
  caf::scoped_actor self{sys};
  int next_message = 0;

  node_fixture() {
    auto err = psp_server.start();
    BOOST_REQUIRE_MESSAGE(!err, "psp: " << err.value_or(""));
    cfg.psp.port = psp_server.port();
    supervision_settings supervision;
    // Long enough for the test to see the outage, short enough to wait for the restart.
    supervision.backoff_min = 1500ms;
    supervision.backoff_max = 1500ms;
    node = start_node_actors(sys, cfg, host_settings_from(cfg.entity), saga_policy_from(cfg.saga),
                             supervision);
  }

  ~node_fixture() {
    node.stop();
    psp_server.stop();
  }

  /// Restocks `sku`: whether the inventory accepted it, or the error's rendering.
  std::string restock(const std::string& sku) { return restock_as(self, sku); }

  /// The same from `who` (a scoped_actor of the calling thread).
  std::string restock_as(caf::scoped_actor& who, const std::string& sku) {
    envelope e;
    e.message_id = "restock-" + std::to_string(next_message++);
    std::string out;
    who->request(node.hosts->inventory, 10s, runtime::route_atom::value, sku, e,
                 caf::make_message(inventory::restock{5}))
        .receive([&](inventory::inventory_reply&) { out = "accepted"; },
                 [&](caf::error& err) { out = sys.render(err); });
    return out;
  }

  /// The current incarnation behind a supervised handle (invalid while it restarts).
  caf::actor incarnation(const caf::actor& supervisor) {
    caf::actor out;
    self->request(supervisor, 5s, caf::get_atom::value)
        .receive([&](caf::actor& a) { out = a; }, [](caf::error&) {});
    return out;
  }

  /// Kills the current incarnation behind `supervisor` (exit_reason::kill cannot be trapped) and
  /// waits until it is gone; returns it.
  caf::actor kill(const caf::actor& supervisor) {
    auto victim = incarnation(supervisor);
    BOOST_TEST_REQUIRE(static_cast<bool>(victim));
    self->monitor(victim);
    caf::anon_send_exit(victim, caf::exit_reason::kill);
    bool down = false;
    self->receive([&](caf::down_msg& dm) { down = dm.source == victim.address(); },
                  caf::after(10s) >> [] {});
    BOOST_TEST_REQUIRE(down);
    return victim;
  }

  /// The journal's stats through its supervised handle.
  persistence::journal_stats journal_stats() {
    persistence::journal_stats out;
    self->request(node.journal, 5s, caf::get_atom::value, persistence::journal_stats_atom::value)
        .receive([&](persistence::journal_stats& s) { out = s; },
                 [&](caf::error& err) { BOOST_TEST_MESSAGE("stats: " << sys.render(err)); });
    return out;
  }

  /// Whether a backend of the test database waits on a lock.
  bool a_statement_waits_on_a_lock() const {
    return db.query_value("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                          "AND datname = current_database()") != "0";
  }

  /// Sends a PSP sale to `to` (the supervisor or an incarnation), held by the stand-in, kills the
  /// gateway's incarnation while the call is in flight, and checks that the call is answered with
  /// an error within a second.
  void a_psp_call_to_a_gateway_that_dies_is_answered_at_once(const caf::actor& to,
                                                             const std::string& key) {
    BOOST_TEST_REQUIRE(eventually([&] { return node.status->down().empty(); }));
    auto faults = psp_server.faults();
    faults.latency = 60s; // held by the stand-in: only the gateway's death can answer it first
    psp_server.set_faults(faults);
    payment::psp_request call;
    call.operation = payment::psp_operation::sale;
    call.amount_cents = 1000;
    call.card_token = "tok_visa";
    call.idempotency_key = key;
    call.attempt = 1;
    const auto requests_before = psp_server.stats().requests;
    auto answer = std::async(std::launch::async, [this, call, to] {
      caf::scoped_actor who{sys};
      std::optional<std::string> got;
      // Bounded, so that a test that fails does not hang (the check is the 20 s wait below).
      who->request(to, 30s, payment::psp_call_atom::value, call)
          .receive([&](payment::psp_reply& r) { got = "reply: " + r.reason; },
                   [&](caf::error& err) { got = "error: " + sys.render(err); });
      return got;
    });
    BOOST_TEST_REQUIRE(eventually([&] { return psp_server.stats().requests > requests_before; }));
    auto killed_at = std::chrono::steady_clock::now();
    kill(caf::actor_cast<caf::actor>(node.psp));
    const auto answered = answer.wait_for(20s) == std::future_status::ready;
    faults.latency = 0ms;
    psp_server.set_faults(faults);
    BOOST_TEST_REQUIRE(answered);
    const auto got = answer.get();
    BOOST_TEST_REQUIRE(got.has_value());
    BOOST_TEST(got->rfind("error: ", 0) == 0, *got);
    const auto took = std::chrono::steady_clock::now() - killed_at;
    BOOST_TEST(std::chrono::duration_cast<std::chrono::milliseconds>(took).count() < 1000);
  }

  bool down(const std::string& name) const {
    const auto d = node.status->down();
    return std::find(d.begin(), d.end(), name) != d.end();
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(supervision, node_fixture)

BOOST_AUTO_TEST_CASE(a_killed_journal_writer_restarts_and_writes_work_again) {
  // Up once the supervisors have started their children.
  BOOST_TEST_REQUIRE(eventually([&] { return node.status->down().empty(); }));
  BOOST_TEST_REQUIRE(restock("sku-a") == "accepted");
  const auto old = kill(caf::actor_cast<caf::actor>(node.journal));
  // The outage shows in the node's status, and a write meanwhile fails at once, cleanly.
  BOOST_TEST_REQUIRE(eventually([&] { return down("journal"); }));
  const auto during = restock("sku-a");
  BOOST_TEST(during != "accepted", during);
  BOOST_TEST(during.find("journal") != std::string::npos, during);
  // Restarted behind the same handle: writes work again and the status is all clear.
  BOOST_TEST_REQUIRE(eventually([&] { return node.status->down().empty(); }));
  const auto fresh = incarnation(caf::actor_cast<caf::actor>(node.journal));
  BOOST_TEST((fresh && fresh != old));
  BOOST_TEST(node.status->restarts.load() == 1u);
  BOOST_TEST(restock("sku-a") == "accepted");
  BOOST_TEST(restock("sku-new") == "accepted");
  BOOST_TEST(db.query_value("SELECT count(*) FROM events WHERE stream_id = 'inventory/sku-a'") ==
             "2");
}

BOOST_AUTO_TEST_CASE(an_append_in_flight_when_the_journal_dies_is_answered_at_once_as_unknown) {
  BOOST_TEST_REQUIRE(eventually([&] { return node.status->down().empty(); }));
  BOOST_TEST_REQUIRE(restock("sku-f") == "accepted"); // the entity is active: no reads needed
  // The journal's commit waits on a lock the test holds.
  pqxx::connection locker{persistence::pg_event_store::connection_string(db.pg())};
  pqxx::work lock{locker};
  lock.exec0("LOCK TABLE events IN ACCESS EXCLUSIVE MODE");
  next_message = 100;
  auto answer = std::async(std::launch::async, [this] {
    caf::scoped_actor who{sys};
    return restock_as(who, "sku-f");
  });
  const bool waiting = eventually([&] {
    return db.query_value("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                          "AND datname = current_database()") != "0";
  });
  kill(caf::actor_cast<caf::actor>(node.journal));
  // Answered by the supervisor, not after the entity's 60 s journal timeout.
  const auto answered = answer.wait_for(20s) == std::future_status::ready;
  lock.abort();
  BOOST_TEST_REQUIRE(waiting);
  BOOST_TEST_REQUIRE(answered);
  const auto reply = answer.get();
  BOOST_TEST(reply.find("unknown") != std::string::npos, reply);
  // The stream is the truth afterwards: writes work again once the journal is back.
  BOOST_TEST_REQUIRE(eventually([&] { return node.status->down().empty(); }));
  BOOST_TEST(eventually([&] { return restock("sku-f") == "accepted"; }));
}

// An entity's append goes to the journal writer that runs now (published in journal_now by its
// supervisor), not through the supervisor: two messages per append instead of four.
BOOST_AUTO_TEST_CASE(appends_go_to_the_published_journal_incarnation_not_through_the_supervisor) {
  BOOST_TEST_REQUIRE(eventually([&] { return node.status->down().empty(); }));
  const auto running = incarnation(caf::actor_cast<caf::actor>(node.journal));
  BOOST_TEST_REQUIRE(static_cast<bool>(running));
  BOOST_TEST((node.journal_now->get() == running));
  // Another journal writer of the test's own, published in its place: the appends reach it.
  auto own = persistence::spawn_journal(sys, cfg.pg, cfg.journal);
  node.journal_now->set(caf::actor_cast<caf::actor>(own));
  const auto before = journal_stats();
  BOOST_TEST(restock("sku-direct") == "accepted");
  persistence::journal_stats own_stats;
  self->request(own, 5s, caf::get_atom::value, persistence::journal_stats_atom::value)
      .receive([&](persistence::journal_stats& s) { own_stats = s; },
               [&](caf::error& err) { BOOST_FAIL("stats: " << sys.render(err)); });
  node.journal_now->set(running);
  caf::anon_send_exit(own, caf::exit_reason::user_shutdown);
  BOOST_TEST(own_stats.appends == 1u);
  BOOST_TEST(journal_stats().appends == before.appends); // the supervised writer saw none
  BOOST_TEST(restock("sku-direct") == "accepted");
  BOOST_TEST(journal_stats().appends == before.appends + 1);
}

BOOST_AUTO_TEST_CASE(a_killed_reader_restarts_and_entities_recover_again) {
  BOOST_TEST_REQUIRE(restock("sku-r1") == "accepted");
  kill(caf::actor_cast<caf::actor>(node.reader));
  BOOST_TEST_REQUIRE(eventually([&] { return down("reader"); }));
  BOOST_TEST_REQUIRE(eventually([&] { return node.status->down().empty(); }));
  // A new entity recovers from the reader before it takes its first command.
  BOOST_TEST(restock("sku-r2") == "accepted");
}

BOOST_AUTO_TEST_CASE(a_killed_psp_gateway_restarts_and_answers_again) {
  const auto psp = caf::actor_cast<caf::actor>(node.psp);
  kill(psp);
  BOOST_TEST_REQUIRE(eventually([&] { return down("psp"); }));
  BOOST_TEST_REQUIRE(eventually([&] { return node.status->down().empty(); }));
  bool answered = false;
  self->request(node.psp, 5s, caf::get_atom::value, payment::breaker_atom::value)
      .receive([&](payment::breaker_report&) { answered = true; }, [](caf::error&) {});
  BOOST_TEST(answered);
}

// The payment's PSP calls have no CAF timeout: what bounds a call whose gateway dies is an answer
// at once, not the client's deadline (here 1.5 s) nor a request timeout. Through the supervisor,
// it answers for the incarnation that died.
BOOST_AUTO_TEST_CASE(a_psp_call_in_flight_when_the_gateway_dies_is_answered_at_once) {
  a_psp_call_to_a_gateway_that_dies_is_answered_at_once(caf::actor_cast<caf::actor>(node.psp),
                                                        "o-lost/sale");
}

// The payments call the PSP gateway that runs now directly (psp_now), not through its
// supervisor: when that incarnation dies, it answers its calls in flight itself, at once.
BOOST_AUTO_TEST_CASE(a_psp_call_sent_straight_to_the_gateway_is_answered_at_once_when_it_dies) {
  BOOST_TEST_REQUIRE(eventually([&] { return node.status->down().empty(); }));
  const auto running = incarnation(caf::actor_cast<caf::actor>(node.psp));
  BOOST_TEST_REQUIRE(static_cast<bool>(running));
  BOOST_TEST((node.psp_now->get() == running));
  a_psp_call_to_a_gateway_that_dies_is_answered_at_once(running, "o-lost-direct/sale");
}

// A host is not restarted (its callers wait for it without a timeout): one that ends is
// reported, for the node to stop, not only logged.
BOOST_AUTO_TEST_CASE(a_killed_entity_host_is_reported_down) {
  BOOST_TEST_REQUIRE(eventually([&] { return node.status->down().empty(); }));
  self->monitor(node.hosts->payment);
  caf::anon_send_exit(node.hosts->payment, caf::exit_reason::kill);
  bool gone = false;
  self->receive([&](caf::down_msg& dm) { gone = dm.source == node.hosts->payment.address(); },
                caf::after(10s) >> [] {});
  BOOST_TEST_REQUIRE(gone);
  BOOST_TEST(eventually([&] { return down("hosts"); }));
}

BOOST_AUTO_TEST_CASE(a_node_that_stops_loses_no_host) {
  BOOST_TEST_REQUIRE(eventually([&] { return node.status->down().empty(); }));
  const caf::actor watched[] = {node.hosts->order, node.hosts->inventory, node.hosts->payment,
                                node.hosts->notification, node.host_watch};
  for (const auto& a : watched) {
    self->monitor(a);
  }
  node.stop();
  size_t ended = 0;
  for (size_t i = 0; i < std::size(watched); ++i) {
    self->receive([&](caf::down_msg&) { ++ended; }, caf::after(10s) >> [] {});
  }
  BOOST_TEST_REQUIRE(ended == std::size(watched));
  BOOST_TEST(node.status->hosts.load()); // stopped on purpose: nothing to report
}

BOOST_AUTO_TEST_CASE(the_gauges_are_kept_current_without_anyone_asking) {
  BOOST_TEST_REQUIRE(restock("sku-g") == "accepted");
  BOOST_TEST(eventually([&] { return node.gauges->journal_events.load() >= 1u; }));
}

BOOST_AUTO_TEST_CASE(a_journal_killed_while_its_worker_hangs_restarts_only_after_the_worker_ended) {
  BOOST_TEST_REQUIRE(eventually([&] { return node.status->down().empty(); }));
  BOOST_TEST_REQUIRE(restock("sku-h") == "accepted");
  pqxx::connection locker{persistence::pg_event_store::connection_string(db.pg())};
  pqxx::work lock{locker};
  lock.exec0("LOCK TABLE events IN ACCESS EXCLUSIVE MODE");
  next_message = 200;
  auto answer = std::async(std::launch::async, [this] {
    caf::scoped_actor who{sys};
    return restock_as(who, "sku-h");
  });
  // The old worker is stuck in its statement, holding its connection.
  const bool stuck = eventually([&] { return a_statement_waits_on_a_lock(); });
  kill(caf::actor_cast<caf::actor>(node.journal));
  // Three back-offs (1.5 s each) pass without a second incarnation while the old worker hangs:
  // it could still commit after a new one started, and each restart would hold one more
  // connection. (A negative claim needs a window; it is three times the restart delay.)
  const bool restarted_during_hang =
      eventually([&] { return node.status->restarts.load() > 0; }, 4500ms);
  lock.abort();
  BOOST_TEST_REQUIRE(stuck);
  BOOST_TEST(!restarted_during_hang);
  // Once the old worker finished its statement and ended, the journal comes back.
  BOOST_TEST_REQUIRE(eventually([&] { return node.status->down().empty(); }));
  BOOST_TEST(node.status->restarts.load() == 1u);
  BOOST_TEST(answer.get().find("unknown") != std::string::npos);
  BOOST_TEST(eventually([&] { return restock("sku-h") == "accepted"; }));
}

BOOST_AUTO_TEST_CASE(journal_stats_never_fall_when_the_journal_writer_restarts) {
  BOOST_TEST_REQUIRE(eventually([&] { return node.status->down().empty(); }));
  for (const auto* sku : {"sku-s1", "sku-s2", "sku-s3"}) {
    BOOST_TEST_REQUIRE(restock(sku) == "accepted");
  }
  const auto before = journal_stats();
  BOOST_TEST_REQUIRE(before.batches >= 3u);
  BOOST_TEST_REQUIRE(before.events >= 3u);
  kill(caf::actor_cast<caf::actor>(node.journal));
  BOOST_TEST_REQUIRE(eventually([&] { return down("journal"); }));
  BOOST_TEST_REQUIRE(eventually([&] { return node.status->down().empty(); }));
  const auto after = journal_stats();
  BOOST_TEST(after.batches >= before.batches);
  BOOST_TEST(after.events >= before.events);
  BOOST_TEST_REQUIRE(restock("sku-s1") == "accepted");
  const auto later = journal_stats();
  BOOST_TEST(later.events >= before.events + 1);
  // /metrics reads the same sums through the gauges.
  BOOST_TEST(eventually([&] { return node.gauges->journal_events.load() >= before.events + 1; }));
}

BOOST_AUTO_TEST_CASE(a_journal_that_cannot_reach_the_database_is_unreachable_until_it_can_again) {
  BOOST_TEST_REQUIRE(eventually([&] { return node.status->down().empty(); }));
  BOOST_TEST_REQUIRE(restock("sku-u") == "accepted");
  BOOST_TEST(node.status->unreachable().empty());
  // New connections are refused and the journal's connection is cut: its next commit fails and
  // it cannot reconnect, while the process runs on.
  auto admin_db = db.pg();
  admin_db.dbname = "postgres";
  pqxx::connection admin{persistence::pg_event_store::connection_string(admin_db)};
  pqxx::nontransaction a{admin};
  a.exec0("ALTER DATABASE \"" + db.pg().dbname + "\" ALLOW_CONNECTIONS false");
  a.exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = " +
         a.quote(db.pg().dbname));
  const auto during = restock("sku-u");
  const bool unreachable = eventually([&] {
    const auto u = node.status->unreachable();
    return std::find(u.begin(), u.end(), "journal") != u.end();
  });
  a.exec0("ALTER DATABASE \"" + db.pg().dbname + "\" ALLOW_CONNECTIONS true");
  BOOST_TEST(during != "accepted", during);
  BOOST_TEST(unreachable);
  BOOST_TEST(!down("journal")); // it runs; it just cannot reach the database
  // Probed by its supervisor, it is reachable again without waiting for a client's write.
  BOOST_TEST(eventually([&] {
    const auto u = node.status->unreachable();
    return std::find(u.begin(), u.end(), "journal") == u.end();
  }));
}

BOOST_AUTO_TEST_CASE(a_journal_whose_worker_hangs_while_appends_wait_is_reported_stalled) {
  BOOST_TEST_REQUIRE(eventually([&] { return node.status->down().empty(); }));
  BOOST_TEST_REQUIRE(restock("sku-w1") == "accepted"); // both entities active: no reads needed
  BOOST_TEST_REQUIRE(restock("sku-w2") == "accepted");
  pqxx::connection locker{persistence::pg_event_store::connection_string(db.pg())};
  pqxx::work lock{locker};
  lock.exec0("LOCK TABLE events IN ACCESS EXCLUSIVE MODE");
  next_message = 300;
  // One append hangs in the worker's statement, the next waits behind it.
  auto first = std::async(std::launch::async, [this] {
    caf::scoped_actor who{sys};
    return restock_as(who, "sku-w1");
  });
  const bool hangs = eventually([&] { return a_statement_waits_on_a_lock(); });
  auto second = std::async(std::launch::async, [this] {
    caf::scoped_actor who{sys};
    return restock_as(who, "sku-w2");
  });
  const bool stalled = eventually([&] {
    const auto u = node.status->unreachable();
    return std::find(u.begin(), u.end(), "journal") != u.end();
  });
  lock.abort();
  BOOST_TEST_REQUIRE(hangs);
  BOOST_TEST(stalled);
  first.get();
  second.get();
  BOOST_TEST(eventually([&] { return node.status->unreachable().empty(); }));
}

BOOST_AUTO_TEST_SUITE_END()
