#define BOOST_TEST_MODULE order_saga
#include <boost/test/unit_test.hpp>

#include "actors/inventory/codec.hpp"
#include "actors/inventory/messages.hpp"
#include "actors/inventory/replies.hpp"
#include "actors/order/codec.hpp"
#include "actors/order/messages.hpp"
#include "actors/order/replies.hpp"
#include "actors/payment/codec.hpp"
#include "actors/payment/messages.hpp"
#include "actors/payment/psp_gateway.hpp"
#include "actors/payment/replies.hpp"
#include "actors/payment/state.hpp"
#include "actors/runtime/entity.hpp"
#include "actors/runtime/messages.hpp"
#include "actors/system.hpp"
#include "core/actor_system.hpp"
#include "psp/client/client.hpp"
#include "psp/server.hpp"
#include "tests/actors/fast_node.hpp"
#include "tests/support/order_sql.hpp"
#include "tests/support/pg_test_database.hpp"
#include "tests/support/psp_calls.hpp"

#include <caf/all.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

using namespace ordermesh;
using namespace ordermesh::actors;
using namespace std::chrono_literals;

namespace {

config::app_config with_psp(config::app_config cfg, std::chrono::milliseconds client_timeout) {
  cfg.psp.port = 0;
  cfg.psp.client_timeout = client_timeout;
  cfg.psp.hang = 2s;
  return cfg;
}

using testing::fast_policy;
using testing::fast_settings;

struct saga_fixture {
  testing::pg_test_database db;
  config::app_config cfg;
  psp::psp_server psp_server;
  caf::actor_system_config caf_cfg;
  caf::actor_system sys{core::configure(caf_cfg)};
  node_actors node;
  caf::scoped_actor self{sys};
  std::atomic<int> next_message{0};

  explicit saga_fixture(order::saga_policy policy = fast_policy(),
                        std::chrono::milliseconds psp_client_timeout = 300ms,
                        runtime::host_settings settings = fast_settings())
      : cfg(with_psp(db.config(), psp_client_timeout)), psp_server(cfg.psp) {
    auto err = psp_server.start();
    BOOST_REQUIRE_MESSAGE(!err, "psp: " << err.value_or(""));
    cfg.psp.port = psp_server.port();
    node = start_node_actors(sys, cfg, std::move(settings), policy);
  }

  ~saga_fixture() {
    node.stop();
    psp_server.stop();
  }

  envelope env(std::string id = "") {
    envelope e;
    e.message_id = id.empty() ? "test-" + std::to_string(next_message++) : id;
    return e;
  }

  /// Sends one command and waits for its reply (`Reply`: the entity's reply type); any error,
  /// a rejection too, fails the test.
  template <class Reply>
  Reply send(const caf::actor& host, const std::string& id, caf::message cmd, envelope e) {
    Reply out;
    self->request(host, 10s, runtime::route_atom::value, id, std::move(e), std::move(cmd))
        .receive([&](Reply& r) { out = r; },
                 [&](caf::error& err) { BOOST_FAIL("command failed: " << sys.render(err)); });
    return out;
  }

  void restock(const std::string& sku, int64_t qty) {
    send<inventory::inventory_reply>(node.hosts->inventory, sku,
                                     caf::make_message(inventory::restock{qty}), env());
  }

  order::order_reply place(const std::string& oid, std::vector<order::order_line> lines,
                           std::string card = "tok_visa", std::string message_id = "") {
    int64_t amount = 0;
    for (const auto& l : lines) {
      amount += 1000 * l.qty;
    }
    return send<order::order_reply>(
        node.hosts->order, oid,
        caf::make_message(order::place_order{oid, "customer-1", std::move(lines),
                                             order::payment_details{card, amount}}),
        env(message_id.empty() ? "place-" + oid : message_id));
  }

  std::string count(const std::string& stream, const std::string& type) {
    return db.query_value("SELECT count(*) FROM events WHERE stream_id = '" + stream +
                          "' AND event_type = '" + type + "'");
  }

  int count_all(const std::string& type) {
    return std::stoi(
        db.query_value("SELECT count(*) FROM events WHERE event_type = '" + type + "'"));
  }

  /// Waits (bounded) until `done` holds; false if it never did.
  template <class Predicate>
  bool wait_until(Predicate done, std::chrono::seconds limit = 20s) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done()) {
      if (std::chrono::steady_clock::now() >= deadline) {
        return false;
      }
      std::this_thread::sleep_for(5ms);
    }
    return true;
  }

  /// Whether `host` has entity `id` (running, not passivated or ended).
  bool active(const caf::actor& host, const std::string& id) {
    bool out = true;
    self->request(host, 5s, caf::get_atom::value, runtime::entities_atom::value)
        .receive(
            [&](std::vector<runtime::entity_info>& entities) {
              out = std::any_of(entities.begin(), entities.end(),
                                [&](const runtime::entity_info& e) { return e.id == id; });
            },
            [](caf::error&) {});
    return out;
  }

  /// Whether the order `oid`, its payment and its notification are all gone from their hosts.
  bool gone(const std::string& oid) {
    return !active(node.hosts->order, oid) && !active(node.hosts->payment, oid) &&
           !active(node.hosts->notification, oid);
  }

  /// How often the host has restarted entity `id` after a crash (0 if it does not know it).
  uint32_t crashes(const caf::actor& host, const std::string& id) {
    uint32_t out = 0;
    self->request(host, 5s, caf::get_atom::value, runtime::entities_atom::value)
        .receive(
            [&](std::vector<runtime::entity_info>& entities) {
              for (const auto& e : entities) {
                if (e.id == id) {
                  out = e.crashes;
                }
              }
            },
            [](caf::error&) {});
    return out;
  }

  /// At the PSP, once the sagas settle, every authorization was captured or voided: no hold
  /// outlives its order (voids of extra holds may follow the order's end, hence the wait).
  void check_no_hold_outlives_its_order() {
    BOOST_TEST(wait_until([&] { return psp_server.stats().open_holds == 0; }, 20s));
    auto psp = psp_server.stats();
    BOOST_TEST(psp.authorizations == psp.captures + psp.voids);
  }

  /// Waits (bounded) until the order's saga has nothing left to do; returns its terminal event.
  std::string wait_for_end(const std::string& oid, std::chrono::seconds limit = 20s) {
    auto stream = "order/" + oid;
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      auto done = db.query_value("SELECT count(*) FROM events WHERE stream_id = '" + stream +
                                 "' AND " + testing::saga_end_sql);
      if (done != "0") {
        return db.query_value("SELECT event_type FROM events WHERE stream_id = '" + stream +
                              "' AND event_type IN ('order.confirmed.v1', 'order.rejected.v1', "
                              "'order.cancelled.v1')");
      }
      std::this_thread::sleep_for(50ms);
    }
    return "saga did not finish within the limit";
  }

  /// Waits (bounded) until notification/<oid> recorded its one event (a confirmed sale's comes from
  /// the settlement runner); returns how many it has.
  std::string notified(const std::string& oid) {
    auto stream = "notification/" + oid;
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (count(stream, "notification.recorded.v1") == "0" &&
           std::chrono::steady_clock::now() < deadline) {
      node.settlement->wait_until_caught_up(1s); // a transaction still open may hold it back
    }
    return count(stream, "notification.recorded.v1");
  }

  struct ended_order {
    std::string terminal_event;
    int64_t after_ms = 0;
  };

  /// Places order `oid` while the node's host in `slot` is replaced by `stand_in`, waits for its
  /// end and puts the real host back.
  ended_order place_with_stand_in(caf::actor& slot, caf::actor stand_in, const std::string& oid,
                                  std::vector<order::order_line> lines) {
    auto real = std::exchange(slot, std::move(stand_in));
    auto started = std::chrono::steady_clock::now();
    place(oid, std::move(lines));
    ended_order ended{wait_for_end(oid), 0};
    ended.after_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::steady_clock::now() - started)
                         .count();
    self->send_exit(slot, caf::exit_reason::user_shutdown);
    slot = real;
    return ended;
  }

  /// Wakes every unfinished order as a node does at start.
  void woken_from_the_journal() {
    auto woken = resume_unfinished_orders(sys, node);
    BOOST_TEST_REQUIRE(static_cast<bool>(woken));
    BOOST_TEST_REQUIRE(*woken >= 1u);
  }

  /// The inventory of `sku` as the older binary left it: `on_hand` units, `order_id` holding `qty`.
  void held_earlier(const std::string& sku, int64_t on_hand, const std::string& order_id,
                    int64_t qty, std::chrono::milliseconds ttl = 60s) {
    auto in_a_minute = std::chrono::duration_cast<std::chrono::microseconds>(
                           std::chrono::system_clock::now().time_since_epoch() + ttl)
                           .count();
    testing::recorded_earlier(
        db, "inventory/" + sku,
        std::vector<inventory::event>{inventory::restocked{on_hand},
                                      inventory::reserved{order_id, qty, in_a_minute}},
        [](const inventory::event& e) { return inventory::encode(e); });
  }

  void order_recorded_earlier(const std::string& oid, const std::vector<order::event>& events) {
    testing::recorded_earlier(db, "order/" + oid, events,
                              [](const order::event& e) { return order::encode(e); });
  }

  void payment_recorded_earlier(const std::string& oid, const std::vector<payment::event>& events) {
    testing::recorded_earlier(db, "payment/" + oid, events,
                              [](const payment::event& e) { return payment::encode(e); });
  }

  int64_t available(const std::string& sku) {
    // Expires what is past due (nothing, once the sagas ended) and reports the stock.
    return send<inventory::inventory_reply>(node.hosts->inventory, sku,
                                            caf::make_message(inventory::expire_reservations{}),
                                            env())
        .summary.available;
  }

  payment::breaker_report breaker() {
    payment::breaker_report out;
    self->request(node.psp, 5s, caf::get_atom::value, payment::breaker_atom::value)
        .receive([&](payment::breaker_report& r) { out = r; }, [](caf::error&) {});
    return out;
  }
};

/// The PSP answers within 3 s: a slow answer is still an answer, not a timeout.
struct patient_psp_fixture : saga_fixture {
  patient_psp_fixture() : saga_fixture(fast_policy(), 3000ms) {}
};

/// Reservations last 300 ms and the PSP takes 600 ms: every reservation expires before the
/// stock commit.
struct expiring_reservations_fixture : saga_fixture {
  static order::saga_policy policy() {
    auto p = fast_policy();
    p.reservation_ttl_ms = 300;
    return p;
  }
  expiring_reservations_fixture() : saga_fixture(policy(), 3000ms) {}
};

/// A saga whose every step is answered within 200 ms but which runs longer than two step
/// timeouts: 12 sale attempts, each failed by a fake payment host 200 ms after it
/// arrived, with 1 ms backoffs.
struct long_progressing_saga_fixture : saga_fixture {
  static order::saga_policy policy() {
    auto p = fast_policy(); // 1000 ms steps: "stalled" means 2000 ms without progress
    p.max_payment_attempts = 12;
    p.retry_base_ms = 1;
    p.retry_max_ms = 1;
    return p;
  }
  long_progressing_saga_fixture() : saga_fixture(policy()) {}
};

/// How far ahead of the wall clock the entities' clock runs (a base of forgetful_fixture, so
/// that it exists before saga_fixture starts the node).
struct clock_ahead {
  std::shared_ptr<std::atomic<int64_t>> ahead_us = std::make_shared<std::atomic<int64_t>>(0);
};

/// Entities passivate after 300 ms idle, and the wall clock they decide by can be moved ahead
/// (`later`), e.g. past the dedupe window.
struct forgetful_fixture : clock_ahead, saga_fixture {
  static runtime::host_settings settings(std::shared_ptr<std::atomic<int64_t>> ahead_us) {
    auto s = fast_settings();
    s.idle_timeout = 300ms;
    auto wall = s.now_us;
    s.now_us = [wall, ahead_us] { return wall() + ahead_us->load(); };
    return s;
  }
  forgetful_fixture() : saga_fixture(fast_policy(), 300ms, settings(ahead_us)) {}

  void later(std::chrono::hours h) {
    ahead_us->fetch_add(std::chrono::duration_cast<std::chrono::microseconds>(h).count());
  }
};

/// What a fake payment host received: each command's message id and causation id.
struct received_log {
  std::mutex mutex;
  std::vector<std::pair<std::string, std::string>> commands;

  void record(const envelope& env) {
    std::lock_guard<std::mutex> guard{mutex};
    commands.emplace_back(env.message_id, env.causation_id);
  }

  std::vector<std::pair<std::string, std::string>> copy() {
    std::lock_guard<std::mutex> guard{mutex};
    return commands;
  }
};

/// What the payment entity answers for a payment whose sale was reversed: it holds and charges
/// nothing.
payment::payment_reply reversed_payment(const std::string& oid) {
  auto closed = payment::apply(payment::payment_state{}, payment::sale_reversed{oid + "/sale"});
  payment::payment_summary summary;
  summary.status = closed.status;
  summary.settled = payment::settled(closed);
  return payment::payment_reply{0, summary};
}

/// A payment host that fails every sale attempt `answer_after` after receiving it
/// (reporting to the order like the payment entity does) and accepts everything else, answering
/// as a payment whose sale was reversed: it holds and charges nothing.
caf::behavior failing_payment_host(caf::event_based_actor* self, std::shared_ptr<received_log> log,
                                   caf::actor order_host, std::chrono::milliseconds answer_after) {
  return {
      [=](runtime::route_atom, const std::string& oid, const envelope& env,
          const caf::message& cmd) {
        log->record(env);
        if (cmd.match_elements<payment::sell>()) {
          auto attempt = cmd.get_as<payment::sell>(0).attempt;
          envelope result;
          result.message_id = oid + "/payment/" + std::to_string(attempt) + "/result";
          self->delayed_send(order_host, answer_after, runtime::route_atom::value, oid, result,
                             caf::make_message(order::record_authorization{
                                 attempt, order::payment_outcome::failed, "503", ""}));
        }
        return reversed_payment(oid);
      },
      [](const order::order_reply&) {},
      [](const caf::error&) {},
  };
}

/// A host that never answers a `Unanswered` command (it keeps each one's promise, undelivered, for
/// as long as it lives) and answers every other command with `answer_others(id)`.
template <class Unanswered, class Reply>
caf::behavior silent_host(caf::event_based_actor* self, std::shared_ptr<received_log> log,
                          Reply (*answer_others)(const std::string&)) {
  auto unanswered = std::make_shared<std::vector<caf::response_promise>>();
  return {
      [=](runtime::route_atom, const std::string& id, const envelope& env,
          const caf::message& cmd) -> caf::result<Reply> {
        log->record(env);
        if (cmd.match_elements<Unanswered>()) {
          unanswered->push_back(self->make_response_promise());
          return caf::delegated<Reply>{};
        }
        return answer_others(id);
      },
      [](caf::get_atom, runtime::waiting_atom) { return uint64_t{0}; },
  };
}

/// What an inventory answers a return of stock it never committed: released.
inventory::inventory_reply released_stock(const std::string&) {
  return inventory::inventory_reply{{inventory::inventory_recorded::released}, 0, {}};
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(order_saga, saga_fixture)

// The saga's step timers are armed on the order entity's tick (no delayed send of their own): a
// sale attempt whose answer never comes times out on it, is retried, and once the attempts are
// spent the order is cancelled and its stock given back.
BOOST_AUTO_TEST_CASE(a_sale_whose_answer_never_comes_times_out_on_the_orders_tick) {
  restock("sku-a", 10);
  auto log = std::make_shared<received_log>();
  auto ended = place_with_stand_in(
      node.hosts->payment,
      sys.spawn(silent_host<payment::sell, payment::payment_reply>, log, reversed_payment),
      "o-silent", {{"sku-a", 2}});
  BOOST_TEST(ended.terminal_event == order::wire::order_cancelled);
  auto attempts = fast_policy().max_payment_attempts;
  // The first sale went out unrecorded; its failure recorded sale_requested{1}, each retry its own.
  BOOST_TEST(count("order/o-silent", order::wire::sale_requested) == std::to_string(attempts));
  BOOST_TEST(count("order/o-silent", order::wire::payment_attempt_failed) ==
             std::to_string(attempts));
  BOOST_TEST(db.query_value("SELECT payload->>'reason' FROM events WHERE stream_id = "
                            "'order/o-silent' AND event_type = 'order.cancelled.v1'") ==
             "payment failed after " + std::to_string(attempts) + " attempts: timed out");
  // Each attempt waited its step timeout (1 s), and no more than a tick (100 ms) and a backoff
  // (at most 300 ms) past it.
  BOOST_TEST(ended.after_ms >= attempts * fast_policy().step_timeout_ms);
  BOOST_TEST(ended.after_ms < attempts * (fast_policy().step_timeout_ms + 400) + 1000);
  BOOST_TEST(available("sku-a") == 10);
  BOOST_TEST(log->copy().size() == static_cast<size_t>(attempts) + 1); // the sales, the reversal
}

// A take whose answer never comes (the line's inventory is parked, overloaded or lost the
// command): the order's first reservation timeout takes again, records nothing, and the second
// cancels the order. The first timeout must fire although it records no event.
BOOST_AUTO_TEST_CASE(a_take_whose_answer_never_comes_is_asked_again_then_the_order_is_cancelled) {
  auto log = std::make_shared<received_log>();
  auto ended = place_with_stand_in(
      node.hosts->inventory,
      sys.spawn(silent_host<inventory::commit, inventory::inventory_reply>, log, released_stock),
      "o-untaken", {{"sku-a", 2}});
  BOOST_TEST(ended.terminal_event == order::wire::order_cancelled);
  BOOST_TEST(db.query_value("SELECT payload->>'reason' FROM events WHERE stream_id = "
                            "'order/o-untaken' AND event_type = 'order.cancelled.v1'") ==
             "reservation timed out");
  auto takes = 0;
  for (const auto& [message_id, causation] : log->copy()) {
    takes += message_id.find("/take") != std::string::npos ? 1 : 0;
  }
  BOOST_TEST(takes == 2); // the first round and the one its timeout asked again
  // Two step timeouts (1 s each), each at most a tick (100 ms) late.
  BOOST_TEST(ended.after_ms >= 2 * fast_policy().step_timeout_ms);
  BOOST_TEST(ended.after_ms < 2 * (fast_policy().step_timeout_ms + 400) + 1000);
}

BOOST_AUTO_TEST_CASE(a_paid_order_with_stock_is_confirmed_committed_captured_and_notified) {
  restock("sku-a", 10);
  restock("sku-b", 10);
  auto placed = place("o-ok", {{"sku-a", 2}, {"sku-b", 1}});
  BOOST_TEST((placed.summary.status == order::order_status::placed));
  BOOST_TEST(wait_for_end("o-ok") == order::wire::order_confirmed);
  BOOST_TEST(count("inventory/sku-a", inventory::wire::committed) == "1");
  BOOST_TEST(count("inventory/sku-b", inventory::wire::committed) == "1");
  BOOST_TEST(available("sku-a") == 8);
  BOOST_TEST(count("payment/o-ok", payment::wire::sold) == "1");
  // Notified by the settlement runner from the journal, once.
  BOOST_TEST(notified("o-ok") == "1");
  BOOST_TEST(psp_server.stats().distinct_charges == 1u);
  // One sale: authorized and captured in one PSP call, nothing held before or after it.
  BOOST_TEST(count("order/o-ok", order::wire::payment_requested) == "0");
  // placed, confirmed: no event per taken line, none for the first sale (the takes' effect),
  // which confirmed the order straight from placed; the saga ends there.
  BOOST_TEST(count("order/o-ok", order::wire::sale_requested) == "0");
  BOOST_TEST(count("order/o-ok", order::wire::payment_captured) == "0");
  BOOST_TEST(db.query_value("SELECT count(*) FROM events WHERE stream_id = 'order/o-ok'") == "2");
  BOOST_TEST(db.query_value("SELECT count(*) FROM events WHERE stream_id = 'payment/o-ok'") == "1");
  BOOST_TEST(psp_server.stats().open_holds == 0u);
  // Paid for good: the settlement runner has each line's inventory settle the order (stop
  // keeping its quantity), in one orders_settled per SKU; the saga sends no settle.
  for (const auto* sku : {"inventory/sku-a", "inventory/sku-b"}) {
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (count(sku, inventory::wire::orders_settled) == "0" &&
           std::chrono::steady_clock::now() < deadline) {
      node.settlement->wait_until_caught_up(1s); // a transaction still open may hold it back
    }
    BOOST_TEST(count(sku, inventory::wire::orders_settled) == "1");
    BOOST_TEST(count(sku, inventory::wire::settled) == "0");
  }
}

// Every order, payment and notification stayed in memory for idle_timeout after its last command
// (here 60 s); each now ends once its work is finished, right after the order's end.
BOOST_AUTO_TEST_CASE(an_ended_orders_entities_leave_their_hosts_right_after_its_end) {
  restock("sku-a", 10);
  place("o-gone", {{"sku-a", 2}});
  BOOST_TEST(wait_for_end("o-gone") == order::wire::order_confirmed);
  place("o-gone-declined", {{"sku-a", 1}}, "tok_decline_insufficient");
  BOOST_TEST(wait_for_end("o-gone-declined") == order::wire::order_cancelled);
  place("o-gone-short", {{"sku-a", 50}});
  BOOST_TEST(wait_for_end("o-gone-short") == order::wire::order_rejected);
  for (const auto* oid : {"o-gone", "o-gone-declined", "o-gone-short"}) {
    BOOST_TEST(notified(oid) == "1", oid);
    BOOST_TEST(wait_until([&] { return gone(oid); }, 5s), oid);
  }
  // A late repeat of the placement activates the order again and is answered from its stream.
  auto again = place("o-gone", {{"sku-a", 2}});
  BOOST_TEST(again.repeated);
  BOOST_TEST((again.summary.status == order::order_status::confirmed));
  BOOST_TEST(count("order/o-gone", order::wire::order_placed) == "1");
  BOOST_TEST(wait_until([&] { return gone("o-gone"); }, 5s));
  // A late reversal reaches the ended payment: activated again, it waits for the PSP's answer
  // (its work looks finished meanwhile), records the reversal once and ends again.
  auto reversing =
      send<payment::payment_reply>(node.hosts->payment, "o-gone",
                                   caf::make_message(payment::reverse_sale{"o-gone/sale"}), env());
  BOOST_TEST((reversing.summary.status == payment::payment_status::captured));
  BOOST_TEST(
      wait_until([&] { return count("payment/o-gone", payment::wire::sale_reversed) == "1"; }, 5s));
  BOOST_TEST(wait_until([&] { return gone("o-gone"); }, 5s));
  BOOST_TEST(count("payment/o-gone", payment::wire::sale_reversed) == "1");
  BOOST_TEST(available("sku-a") == 8);
}

BOOST_AUTO_TEST_CASE(an_order_beyond_the_stock_is_rejected_and_releases_what_it_reserved) {
  restock("sku-a", 10);
  restock("sku-low", 1);
  place("o-short", {{"sku-a", 3}, {"sku-low", 5}});
  BOOST_TEST(wait_for_end("o-short") == order::wire::order_rejected);
  BOOST_TEST(db.query_value("SELECT payload->>'reason' FROM events WHERE stream_id = "
                            "'order/o-short' AND event_type = 'order.rejected.v1'") != "");
  BOOST_TEST(available("sku-a") == 10);
  BOOST_TEST(available("sku-low") == 1);
  BOOST_TEST(psp_server.stats().authorizations == 0u);
  BOOST_TEST(count("notification/o-short", "notification.recorded.v1") == "1");
}

BOOST_AUTO_TEST_CASE(a_declined_card_cancels_the_order_and_releases_the_stock) {
  restock("sku-a", 10);
  place("o-declined", {{"sku-a", 4}}, "tok_decline_insufficient");
  BOOST_TEST(wait_for_end("o-declined") == order::wire::order_cancelled);
  BOOST_TEST(available("sku-a") == 10);
  BOOST_TEST(psp_server.stats().captures == 0u);
}

BOOST_AUTO_TEST_CASE(a_redelivered_place_order_appends_nothing_and_says_it_repeats) {
  restock("sku-a", 10);
  auto first = place("o-dup", {{"sku-a", 1}}, "tok_visa", "same-message");
  auto again = place("o-dup", {{"sku-a", 1}}, "tok_visa", "same-message");
  BOOST_TEST(!first.repeated);
  BOOST_TEST(again.repeated);
  BOOST_TEST(again.version == first.version);
  BOOST_TEST(again.summary.order_id == first.summary.order_id);
  BOOST_TEST(wait_for_end("o-dup") == order::wire::order_confirmed);
  BOOST_TEST(count("order/o-dup", order::wire::order_placed) == "1");
  // Sent twice at once: one placement, the other its repeat.
  restock("sku-b", 10);
  auto c1 = self->request(node.hosts->order, 10s, runtime::route_atom::value, std::string{"o-two"},
                          env("twice"),
                          caf::make_message(order::place_order{
                              "o-two", "customer-1", {{"sku-b", 1}}, {"tok_visa", 1000}}));
  auto c2 = self->request(node.hosts->order, 10s, runtime::route_atom::value, std::string{"o-two"},
                          env("twice"),
                          caf::make_message(order::place_order{
                              "o-two", "customer-1", {{"sku-b", 1}}, {"tok_visa", 1000}}));
  int repeats = 0;
  for (auto* r : {&c1, &c2}) {
    r->receive([&](order::order_reply& reply) { repeats += reply.repeated ? 1 : 0; },
               [&](caf::error& err) { BOOST_FAIL("command failed: " << sys.render(err)); });
  }
  BOOST_TEST(repeats == 1);
  BOOST_TEST(wait_for_end("o-two") == order::wire::order_confirmed);
  BOOST_TEST(count("order/o-two", order::wire::order_placed) == "1");
}

BOOST_AUTO_TEST_CASE(psp_timeouts_are_retried_and_the_order_confirms_when_the_psp_recovers) {
  restock("sku-a", 10);
  auto faults = psp_server.faults();
  faults.failure_rate = 1.0;
  psp_server.set_faults(faults);
  place("o-retry", {{"sku-a", 1}});
  // Let the first attempt fail, then heal the PSP before the retry budget is spent.
  BOOST_REQUIRE(wait_until(
      [&] { return count("order/o-retry", order::wire::payment_attempt_failed) != "0"; }));
  faults.failure_rate = 0.0;
  psp_server.set_faults(faults);
  BOOST_TEST(wait_for_end("o-retry") == order::wire::order_confirmed);
  BOOST_TEST(count("order/o-retry", order::wire::payment_attempt_failed) != "0");
  BOOST_TEST(psp_server.stats().distinct_charges == 1u);
}

BOOST_AUTO_TEST_CASE(a_psp_that_stops_answering_is_retried_and_the_order_confirms_once_it_answers) {
  restock("sku-a", 10);
  auto faults = psp_server.faults();
  faults.timeout_rate = 1.0; // answers are held past the client's 300 ms timeout
  psp_server.set_faults(faults);
  place("o-timeout", {{"sku-a", 1}});
  BOOST_REQUIRE(wait_until(
      [&] { return count("order/o-timeout", order::wire::payment_attempt_failed) != "0"; }));
  BOOST_TEST(psp_server.stats().injected_timeouts >= 1u);
  faults.timeout_rate = 0.0;
  psp_server.set_faults(faults);
  BOOST_TEST(wait_for_end("o-timeout") == order::wire::order_confirmed);
  // The first attempt went unanswered: the order confirmed on a retry.
  BOOST_TEST(count("order/o-timeout", order::wire::payment_attempt_failed) != "0");
  BOOST_TEST(std::stoi(count("order/o-timeout", order::wire::sale_requested)) >= 2);
  // The retry was sent with the same key: the PSP answered it with the first sale, charged once.
  BOOST_TEST(psp_server.stats().replays >= 1u);
  BOOST_TEST(psp_server.stats().distinct_charges == 1u);
  check_no_hold_outlives_its_order();
}

BOOST_FIXTURE_TEST_CASE(an_order_entity_killed_mid_saga_restarts_and_finishes,
                        patient_psp_fixture) {
  restock("sku-a", 10);
  auto faults = psp_server.faults();
  faults.latency = 800ms; // below the step timeout: the saga waits on the PSP while killed
  psp_server.set_faults(faults);
  place("o-killed", {{"sku-a", 2}});
  // Its stock taken: the sale, recorded by no event, follows at once.
  BOOST_REQUIRE(
      wait_until([&] { return count("inventory/sku-a", inventory::wire::committed) != "0"; }));
  self->send(node.hosts->order, runtime::kill_atom::value, std::string{"o-killed"});
  self->send(node.hosts->payment, runtime::kill_atom::value, std::string{"o-killed"});
  // Mid-flight when killed: the PSP had not answered yet (it takes 800 ms), nothing was decided;
  // the order's journal holds its placement only (it recovers placed, takes and sells again).
  BOOST_TEST(count("payment/o-killed", payment::wire::sold) == "0");
  BOOST_TEST(db.query_value("SELECT count(*) FROM events WHERE stream_id = 'order/o-killed'") ==
             "1");
  // Both entities were restarted by their hosts.
  BOOST_TEST(wait_until([&] { return crashes(node.hosts->order, "o-killed") >= 1; }));
  BOOST_TEST(wait_until([&] { return crashes(node.hosts->payment, "o-killed") >= 1; }));
  BOOST_TEST(wait_for_end("o-killed") == order::wire::order_confirmed);
  BOOST_TEST(count("order/o-killed", order::wire::order_confirmed) == "1");
  BOOST_TEST(available("sku-a") == 8);
  BOOST_TEST(psp_server.stats().distinct_charges == 1u);
  check_no_hold_outlives_its_order();
}

BOOST_AUTO_TEST_CASE(the_circuit_breaker_opens_under_failure_and_closes_after_recovery) {
  restock("sku-a", 100);
  auto faults = psp_server.faults();
  faults.failure_rate = 1.0;
  psp_server.set_faults(faults);
  for (int i = 0; i < 3; ++i) {
    place("o-cb-" + std::to_string(i), {{"sku-a", 1}});
  }
  // Cancelled; their sagas end only once the PSP is back and has released what may be held.
  for (int i = 0; i < 3; ++i) {
    auto oid = "o-cb-" + std::to_string(i);
    BOOST_TEST(
        wait_until([&] { return count("order/" + oid, order::wire::order_cancelled) == "1"; }));
  }
  BOOST_TEST(breaker().state == "open");
  BOOST_TEST(breaker().short_circuited > 0u);
  faults.failure_rate = 0.0;
  psp_server.set_faults(faults);
  auto until = std::chrono::steady_clock::now() + 30s; // far beyond the 2 s open period
  while (!breaker().lets_calls_through && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(20ms);
  }
  BOOST_TEST_REQUIRE(breaker().lets_calls_through);
  place("o-cb-after", {{"sku-a", 1}});
  BOOST_TEST(wait_for_end("o-cb-after") == order::wire::order_confirmed);
  BOOST_TEST(breaker().state == "closed");
  for (int i = 0; i < 3; ++i) {
    BOOST_TEST(wait_for_end("o-cb-" + std::to_string(i)) == order::wire::order_cancelled);
  }
  check_no_hold_outlives_its_order();
}

BOOST_AUTO_TEST_CASE(
    two_thousand_concurrent_orders_for_one_hundred_units_confirm_exactly_one_hundred) {
  restock("flash", 100);
  constexpr int orders = 2000;
  constexpr int threads = 8;
  std::vector<std::thread> clients;
  std::atomic<int> placed{0};
  for (int t = 0; t < threads; ++t) {
    clients.emplace_back([&, t] {
      caf::scoped_actor client{sys};
      int mine = orders / threads;
      for (int i = 0; i < mine; ++i) {
        auto oid = "flash-" + std::to_string(t) + "-" + std::to_string(i);
        envelope e;
        e.message_id = "place-" + oid;
        client->send(
            node.hosts->order, runtime::route_atom::value, oid, e,
            caf::make_message(order::place_order{
                oid, "customer-" + std::to_string(t), {{"flash", 1}}, {"tok_visa", 1000}}));
      }
      for (int i = 0; i < mine; ++i) {
        client->receive([&](order::order_reply&) { placed += 1; }, [&](caf::error&) {},
                        caf::after(60s) >> [] {});
      }
    });
  }
  for (auto& c : clients) {
    c.join();
  }
  BOOST_TEST(placed.load() == orders);
  auto finished = [&] {
    return std::stoi(
        db.query_value(std::string{"SELECT count(*) FROM events WHERE "} + testing::saga_end_sql));
  };
  auto deadline = std::chrono::steady_clock::now() + 180s;
  while (finished() < orders && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(200ms);
  }
  BOOST_TEST(finished() == orders);
  BOOST_TEST(db.query_value(
                 "SELECT count(*) FROM events WHERE event_type = 'order.confirmed.v1'") == "100");
  BOOST_TEST(db.query_value("SELECT count(*) FROM events WHERE event_type = 'order.rejected.v1'") ==
             "1900");
  BOOST_TEST(available("flash") == 0);
  // The inventory's own log agrees: 100 units reserved and committed, never more.
  BOOST_TEST(count("inventory/flash", inventory::wire::committed) == "100");
  BOOST_TEST(
      db.query_value("SELECT coalesce(sum((payload->>'qty')::int), 0) FROM events WHERE "
                     "stream_id = 'inventory/flash' AND event_type = 'inventory.committed.v1'") ==
      "100");
  BOOST_TEST(psp_server.stats().distinct_charges == 100u);
  check_no_hold_outlives_its_order();
}

BOOST_FIXTURE_TEST_CASE(
    an_older_binarys_reservation_that_expired_before_the_stock_commit_is_never_captured,
    expiring_reservations_fixture) {
  // The older path (reserve, authorize, commit): both lines reserved for 300 ms, authorization
  // requested; the PSP takes 600 ms.
  held_earlier("sku-a", 10, "o-expired", 2, 300ms);
  held_earlier("sku-b", 10, "o-expired", 1, 300ms);
  order_recorded_earlier(
      "o-expired", {order::order_placed{
                        "o-expired", "customer-1", {{"sku-a", 2}, {"sku-b", 1}}, "tok_visa", 3000},
                    order::stock_reserved{"sku-a"}, order::stock_reserved{"sku-b"},
                    order::payment_requested{1}});
  payment_recorded_earlier("o-expired", {payment::authorization_requested{
                                            3000, "tok_visa", "o-expired/authorize/1", 1}});
  auto faults = psp_server.faults();
  faults.latency = 600ms; // the authorization outlives the 300 ms reservations
  psp_server.set_faults(faults);
  woken_from_the_journal();
  BOOST_TEST(wait_for_end("o-expired") == order::wire::order_cancelled);
  BOOST_TEST(count("order/o-expired", order::wire::order_confirmed) == "0");
  BOOST_TEST(count("order/o-expired", order::wire::stock_commit_refused) != "0");
  BOOST_TEST(count("payment/o-expired", "payment.captured.v1") == "0");
  BOOST_TEST(count("payment/o-expired", "payment.voided.v1") == "1");
  BOOST_TEST(psp_server.stats().captures == 0u);
  BOOST_TEST(count("inventory/sku-a", inventory::wire::committed) == "0");
  BOOST_TEST(available("sku-a") == 10);
  BOOST_TEST(available("sku-b") == 10);
  check_no_hold_outlives_its_order();
}

BOOST_FIXTURE_TEST_CASE(a_saga_that_keeps_making_progress_is_never_resent_its_steps,
                        long_progressing_saga_fixture) {
  restock("sku-a", 10);
  auto log = std::make_shared<received_log>();
  auto real_payment = node.hosts->payment;
  node.hosts->payment = sys.spawn(failing_payment_host, log, node.hosts->order, 200ms);
  auto started = std::chrono::steady_clock::now();
  place("o-steady", {{"sku-a", 1}});
  BOOST_TEST(wait_for_end("o-steady") == order::wire::order_cancelled);
  auto took = std::chrono::steady_clock::now() - started;
  auto received = log->copy();
  self->send_exit(node.hosts->payment, caf::exit_reason::user_shutdown);
  node.hosts->payment = real_payment;
  // It ran past the stall limit (12 attempts of at least 200 ms) while committing every 200 ms.
  BOOST_TEST(std::stoi(count("order/o-steady", order::wire::sale_requested)) == 12);
  BOOST_TEST(std::chrono::duration_cast<std::chrono::milliseconds>(took).count() >
             2 * fast_policy().step_timeout_ms);
  std::set<std::string> distinct;
  for (const auto& [message_id, causation_id] : received) {
    BOOST_TEST_INFO("message " << message_id << " caused by " << causation_id);
    BOOST_TEST(causation_id != "order/o-steady/resume");
    BOOST_TEST(distinct.insert(message_id).second);
  }
  BOOST_TEST(received.size() == 13u); // 12 sale attempts and the reversal
}

BOOST_AUTO_TEST_SUITE(journals_of_the_older_binary)

// Orders the older binary (reserve, authorize, commit, confirm, capture) left mid-saga in the
// journal, with the inventory and the PSP as it left them: the current binary replays them and
// finishes them on that path.

BOOST_AUTO_TEST_CASE(
    an_order_whose_authorization_was_requested_but_never_sent_finishes_on_the_older_path) {
  held_earlier("sku-old1", 10, "o-old1", 2);
  order_recorded_earlier(
      "o-old1", {order::order_placed{"o-old1", "customer-1", {{"sku-old1", 2}}, "tok_visa", 2000},
                 order::stock_reserved{"sku-old1"}, order::payment_requested{1}});
  payment_recorded_earlier(
      "o-old1", {payment::authorization_requested{2000, "tok_visa", "o-old1/authorize/1", 1}});
  woken_from_the_journal();
  BOOST_TEST(wait_for_end("o-old1") == order::wire::order_confirmed);
  BOOST_TEST(count("inventory/sku-old1", inventory::wire::committed) == "1");
  BOOST_TEST(count("payment/o-old1", payment::wire::capture_confirmed) == "1");
  BOOST_TEST(count("order/o-old1", order::wire::sale_requested) == "0");
  BOOST_TEST(psp_server.stats().captures == 1u);
  BOOST_TEST(available("sku-old1") == 8);
  check_no_hold_outlives_its_order();
}

BOOST_AUTO_TEST_CASE(an_authorized_order_committing_its_stock_finishes_on_the_older_path) {
  psp::psp_async_client client{cfg.psp, 1};
  auto held = testing::call_and_wait(
      client, testing::authorize_call(2000, "tok_visa", "o-old2/authorize/1"));
  BOOST_TEST_REQUIRE(std::holds_alternative<psp::psp_ok>(held));
  auto reference = std::get<psp::psp_ok>(held).id;
  held_earlier("sku-old2", 10, "o-old2", 2);
  order_recorded_earlier(
      "o-old2", {order::order_placed{"o-old2", "customer-1", {{"sku-old2", 2}}, "tok_visa", 2000},
                 order::stock_reserved{"sku-old2"}, order::payment_requested{1},
                 order::payment_authorized{reference}, order::stock_commit_requested{1}});
  payment_recorded_earlier(
      "o-old2", {payment::authorization_requested{2000, "tok_visa", "o-old2/authorize/1", 1},
                 payment::authorized{"o-old2/authorize/1", reference}});
  woken_from_the_journal();
  BOOST_TEST(wait_for_end("o-old2") == order::wire::order_confirmed);
  BOOST_TEST(count("inventory/sku-old2", inventory::wire::committed) == "1");
  BOOST_TEST(psp_server.stats().captures == 1u);
  BOOST_TEST(psp_server.stats().distinct_charges == 1u);
  BOOST_TEST(available("sku-old2") == 8);
  check_no_hold_outlives_its_order();
}

// The binary before this one recorded order.sale_requested{1} before its first sale, and stopped
// before the sale left. This binary's order recovers selling (old events still apply), resends
// the sale under the same key, unmarked first (the payment reads its stream), and confirms.
BOOST_AUTO_TEST_CASE(an_order_the_previous_binary_left_selling_resells_under_its_key_and_confirms) {
  restock("sku-prev", 10);
  auto taken = send<inventory::inventory_reply>(
      node.hosts->inventory, "sku-prev", caf::make_message(inventory::commit{"o-prev", 2}), env());
  BOOST_TEST_REQUIRE(!taken.recorded.empty()); // as the previous binary's take left it
  order_recorded_earlier(
      "o-prev", {order::order_placed{"o-prev", "customer-1", {{"sku-prev", 2}}, "tok_visa", 2000},
                 order::sale_requested{1}});
  woken_from_the_journal();
  BOOST_TEST(wait_for_end("o-prev") == order::wire::order_confirmed);
  BOOST_TEST(count("order/o-prev", order::wire::sale_requested) == "1");
  BOOST_TEST(count("payment/o-prev", payment::wire::sold) == "1");
  BOOST_TEST(available("sku-prev") == 8);
  BOOST_TEST(psp_server.stats().distinct_charges == 1u);
}

// The binary before this one ended a sale confirmed naming its SKUs once its notification
// answered (payment_captured), and its settlement runner saved its checkpoint after the settles
// alone: one it left with that answer outstanding may lie behind the runner's checkpoint, where
// no runner reads it again. A node start wakes it (a sale request, no payment_captured): it
// notifies itself and ends once answered. Here the runner is stopped: only the saga can notify.
BOOST_AUTO_TEST_CASE(
    a_sale_confirmed_by_the_previous_binary_awaiting_its_notification_notifies_itself_on_start) {
  node.settlement->stop();
  testing::recorded_earlier(
      db, "inventory/sku-old9",
      std::vector<inventory::event>{inventory::restocked{10}, inventory::committed{"o-old9", 2}},
      [](const inventory::event& e) { return inventory::encode(e); });
  order_recorded_earlier(
      "o-old9", {order::order_placed{"o-old9", "customer-1", {{"sku-old9", 2}}, "tok_visa", 2000},
                 order::sale_requested{1}, order::order_confirmed{{"sku-old9"}}});
  payment_recorded_earlier("o-old9", {payment::sold{"o-old9/sale", "psp-9", 2000}});
  auto woken = resume_unfinished_orders(sys, node);
  BOOST_TEST_REQUIRE(static_cast<bool>(woken));
  BOOST_TEST(*woken == 1u);
  BOOST_TEST(
      wait_until([&] { return count("order/o-old9", order::wire::payment_captured) == "1"; }));
  BOOST_TEST(notified("o-old9") == "1");
  BOOST_TEST(db.query_value("SELECT payload->>'status' FROM events WHERE stream_id = "
                            "'notification/o-old9'") == "confirmed");
  // A late answer of the old notification records nothing more.
  send<order::order_reply>(node.hosts->order, "o-old9", caf::make_message(order::record_notified{}),
                           env());
  BOOST_TEST(db.query_value("SELECT count(*) FROM events WHERE stream_id = 'order/o-old9'") == "4");
  // A second start wakes it no more.
  auto again = resume_unfinished_orders(sys, node);
  BOOST_TEST_REQUIRE(static_cast<bool>(again));
  BOOST_TEST(*again == 0u);
  BOOST_TEST(available("sku-old9") == 8);
}

BOOST_AUTO_TEST_CASE(
    an_order_placed_by_the_older_binary_with_its_reservation_held_takes_and_sells_it) {
  held_earlier("sku-old3", 10, "o-old3", 2);
  order_recorded_earlier(
      "o-old3", {order::order_placed{"o-old3", "customer-1", {{"sku-old3", 2}}, "tok_visa", 2000}});
  woken_from_the_journal();
  BOOST_TEST(wait_for_end("o-old3") == order::wire::order_confirmed);
  BOOST_TEST(count("order/o-old3", order::wire::sale_requested) == "0"); // the sale: no event
  BOOST_TEST(count("payment/o-old3", payment::wire::sold) == "1");
  BOOST_TEST(available("sku-old3") == 8);
  BOOST_TEST(psp_server.stats().distinct_charges == 1u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_FIXTURE_TEST_CASE(a_placement_retried_after_the_dedupe_window_is_a_repeat_and_places_nothing,
                        forgetful_fixture) {
  restock("sku-a", 10);
  auto first = place("o-late", {{"sku-a", 1}}, "tok_visa", "place-late");
  BOOST_TEST(!first.repeated);
  BOOST_TEST(wait_for_end("o-late") == order::wire::order_confirmed);
  // Passivated, then asked again within the window: the next incarnation read the message id
  // back from the stream.
  BOOST_REQUIRE(wait_until([&] { return !active(node.hosts->order, "o-late"); }));
  auto inside = place("o-late", {{"sku-a", 1}}, "tok_visa", "place-late");
  BOOST_TEST(inside.repeated);
  BOOST_TEST(inside.version == first.version);
  // Passivated again, and a day later: the message id is forgotten. The placement takes the
  // stream for new, its append at version 0 conflicts, the entity reads the stream and finds the
  // same order: it answers a repeat, with the order as it is, and records nothing.
  BOOST_REQUIRE(wait_until([&] { return !active(node.hosts->order, "o-late"); }));
  later(runtime::dedupe_window + std::chrono::hours{1});
  auto outside = place("o-late", {{"sku-a", 1}}, "tok_visa", "place-late");
  BOOST_TEST(outside.repeated);
  BOOST_TEST((outside.summary.status == order::order_status::confirmed));
  BOOST_TEST(count("order/o-late", order::wire::order_placed) == "1");
  BOOST_TEST(db.query_value("SELECT count(*) FROM events WHERE stream_id = 'order/o-late'") ==
             std::to_string(outside.version));
  BOOST_TEST(available("sku-a") == 9);
  BOOST_TEST(psp_server.stats().distinct_charges == 1u);
}

BOOST_AUTO_TEST_SUITE_END()
