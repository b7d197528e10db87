// Two writers on one database: two `ordermesh standalone` processes (and one `ordermesh psp`) on
// one PostgreSQL database and one Redis. The same SKUs and the same Idempotency-Keys go to both
// gateways at once, so that both processes append to the same order and inventory streams
// (version conflicts, re-decide), run projections side by side, share rate-limit buckets and
// announce cache invalidations to each other. Afterwards the journal is checked from its first
// event (tests/system/journal_invariants.hpp), and the read models against the journal.

#define BOOST_TEST_MODULE system_two_writers
#include <boost/test/unit_test.hpp>

#include "persistence/pg_event_store.hpp"
#include "tests/support/order_sql.hpp"
#include "tests/system/journal_invariants.hpp"
#include "tests/system/system_processes.hpp"

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include <atomic>
#include <mutex>
#include <random>
#include <set>
#include <thread>

using namespace ordermesh;
using namespace ordermesh::testing;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

/// A name no other run uses (Redis is shared between test runs).
std::string unique(const std::string& prefix) {
  static std::mt19937_64 random{std::random_device{}()};
  return prefix + "-" + std::to_string(random() % 1'000'000'000'000ull);
}

constexpr uint32_t rate_per_s = 20;
constexpr uint32_t burst = 60;

/// The value of a metric sample line of `/metrics` (-1 if absent).
double metric(http_client& c, const std::string& sample) {
  auto body = c.request("GET", "/metrics").body;
  auto at = body.find("\n" + sample + " "); // a sample line, not its # HELP
  return at == std::string::npos ? -1 : std::stod(body.substr(at + sample.size() + 2));
}

/// Two standalone processes and a PSP on one fresh database.
struct two_nodes {
  explicit two_nodes(const std::vector<std::string>& node_args = args())
      : psp{{"--psp.latency=5ms", "--psp.seed=7"}}, a{db, psp.port, node_args}, b{db, psp.port,
                                                                                  node_args} {
    BOOST_TEST_REQUIRE(psp.ready, "the PSP did not start:\n" << psp.process->output_tail());
    BOOST_TEST_REQUIRE(a.wait_ready(60s), "node A did not become ready:\n"
                                              << a.process->output_tail());
    BOOST_TEST_REQUIRE(b.wait_ready(60s), "node B did not become ready:\n"
                                              << b.process->output_tail());
  }
  ~two_nodes() {
    a.process->terminate(10s);
    b.process->terminate(10s);
    psp.process->terminate(5s);
  }
  static std::vector<std::string> args() {
    return {"--gateway.rate_limit_per_s=" + std::to_string(rate_per_s),
            "--gateway.rate_limit_burst=" + std::to_string(burst), "--gateway.cache_ttl=60s",
            // The test's clients name themselves (X-Client-Id) as a trusted proxy would.
            "--gateway.trusted_proxy=true"};
  }
  standalone_process& node(int i) { return i == 0 ? a : b; }

  pg_test_database db;
  psp_process psp;
  standalone_process a;
  standalone_process b;
};

header_list as(const std::string& client, const std::string& key = "") {
  header_list h{{"X-Client-Id", client}};
  if (!key.empty()) {
    h.emplace_back("Idempotency-Key", key);
  }
  return h;
}

int64_t on_hand(http_client& c, const std::string& sku, const std::string& client) {
  auto r = c.request("GET", "/inventory/" + sku, "", as(client));
  return r.status == 200u ? r.json().at("on_hand").get<int64_t>() : -1;
}

/// Every order stream's id with its terminal status from the journal ("" while it has none).
std::map<std::string, std::string> terminal_status_in_journal(const pg_test_database& db) {
  std::map<std::string, std::string> out;
  for (const auto& row : read_journal(db.pg())) {
    if (row.stream_id.rfind("order/", 0) != 0) {
      continue;
    }
    auto& status = out[row.stream_id.substr(6)];
    if (row.type == "order.confirmed.v1") {
      status = "confirmed";
    } else if (row.type == "order.rejected.v1") {
      status = "rejected";
    } else if (row.type == "order.cancelled.v1") {
      status = "cancelled";
    }
  }
  return out;
}

std::map<std::string, std::string> read_order_statuses(const pg_test_database& db) {
  pqxx::connection c{persistence::pg_event_store::connection_string(db.pg())};
  pqxx::work tx{c};
  std::map<std::string, std::string> out;
  for (const auto& r : tx.exec("SELECT order_id, status FROM read_orders")) {
    out[r[0].as<std::string>()] = r[1].as<std::string>();
  }
  return out;
}

/// Orders whose saga has not ended yet.
int open_sagas(const pg_test_database& db) {
  return std::stoi(db.query_value(
      std::string{"SELECT count(*) FROM (SELECT stream_id FROM events WHERE stream_id LIKE "
                  "'order/%' GROUP BY stream_id HAVING count(*) FILTER (WHERE "} +
      testing::saga_end_sql + ") = 0) x"));
}

} // namespace

BOOST_AUTO_TEST_CASE(two_processes_on_one_database_sell_each_unit_once_and_agree_on_every_order) {
  two_nodes system;
  const std::vector<std::string> skus{unique("tw-a"), unique("tw-b"), unique("tw-c")};
  constexpr int64_t stock_per_sku = 50;

  // Restock every SKU through both gateways at once with the same key: one restock each.
  {
    const auto restocker = unique("restocker");
    std::vector<std::thread> threads;
    std::vector<unsigned> statuses(2 * skus.size());
    for (int n = 0; n < 2; ++n) {
      threads.emplace_back([&, n] {
        auto c = system.node(n).client();
        for (size_t i = 0; i < skus.size(); ++i) {
          statuses[n * skus.size() + i] =
              c->request("POST", "/inventory/" + skus[i] + "/restock",
                         json{{"qty", stock_per_sku}}.dump(), as(restocker, "stock-" + skus[i]))
                  .status;
        }
      });
    }
    for (auto& t : threads) {
      t.join();
    }
    for (auto s : statuses) {
      BOOST_TEST(s == 200u);
    }
  }
  for (const auto& sku : skus) {
    BOOST_TEST(system.db.query_value("SELECT count(*) FROM events WHERE stream_id = 'inventory/" +
                                     sku + "' AND event_type = 'inventory.restocked.v1'") == "1",
               "restocks of " << sku << " with one key through two gateways");
  }
  // Orders need the SKUs in the read model of the gateway that takes them.
  for (int n = 0; n < 2; ++n) {
    auto c = system.node(n).client();
    for (const auto& sku : skus) {
      BOOST_TEST_REQUIRE(wait_for([&] { return on_hand(*c, sku, "probe") == stock_per_sku; }, 30s),
                         "gateway " << n << " never showed the stock of " << sku);
    }
  }

  // The same keys of the same clients through both gateways at once; more demand than stock,
  // some declined cards.
  constexpr int clients = 12;
  constexpr int keys_per_client = 12;
  struct answer {
    unsigned status = 0;
    std::string order_id;
  };
  std::vector<std::string> client_ids;
  for (int i = 0; i < clients; ++i) {
    client_ids.push_back(unique("tw-client"));
  }
  auto body_for = [&](int client, int key) {
    std::mt19937 r(static_cast<unsigned>(client * 100 + key));
    const auto& sku = skus[r() % skus.size()];
    const int qty = 1 + static_cast<int>(r() % 2);
    const bool decline = r() % 6 == 0;
    return json{
        {"customer_id", "tw-customer-" + std::to_string(client)},
        {"lines", {{{"sku", sku}, {"qty", qty}}}},
        {"payment",
         {{"card_token", decline ? "tok_decline_card" : "tok_visa"}, {"amount_cents", 990}}}}
        .dump();
  };
  std::vector<answer> answers(2 * clients * keys_per_client);
  std::atomic<int> server_errors{0};
  {
    std::vector<std::thread> threads;
    for (int n = 0; n < 2; ++n) {
      for (int cl = 0; cl < clients; ++cl) {
        threads.emplace_back([&, n, cl] {
          auto c = system.node(n).client();
          for (int k = 0; k < keys_per_client; ++k) {
            auto& out = answers[(n * clients + cl) * keys_per_client + k];
            // Like a careful client: a 5xx or a lost connection is retried with the same key.
            for (int attempt = 0; attempt < 30; ++attempt) {
              try {
                auto r = c->request("POST", "/orders", body_for(cl, k),
                                    as(client_ids[cl], "key-" + std::to_string(k)));
                out.status = r.status;
                auto j = json::parse(r.body, nullptr, false);
                if (j.is_object() && j.contains("order_id")) {
                  out.order_id = j["order_id"].get<std::string>();
                }
              } catch (const std::exception&) {
                out.status = 0;
              }
              if (out.status != 0 && out.status < 500u) {
                break;
              }
              ++server_errors;
              std::this_thread::sleep_for(100ms);
            }
          }
        });
      }
    }
    for (auto& t : threads) {
      t.join();
    }
  }
  // Each key is one order, whichever gateway answered.
  std::set<std::string> order_ids;
  for (int cl = 0; cl < clients; ++cl) {
    for (int k = 0; k < keys_per_client; ++k) {
      const auto& x = answers[(0 * clients + cl) * keys_per_client + k];
      const auto& y = answers[(1 * clients + cl) * keys_per_client + k];
      BOOST_TEST((x.status == 202u || x.status == 201u),
                 "gateway A, client " << cl << " key " << k << ": " << x.status);
      BOOST_TEST((y.status == 202u || y.status == 201u),
                 "gateway B, client " << cl << " key " << k << ": " << y.status);
      BOOST_TEST(x.order_id == y.order_id, "client " << cl << " key " << k);
      order_ids.insert(x.order_id);
    }
  }
  BOOST_TEST(order_ids.size() == static_cast<size_t>(clients * keys_per_client));
  // Two writers are no reason to fail a request: a 5xx here means the processes got in each
  // other's way (for example two journal batches deadlocking on the same streams).
  const bool deadlocked =
      system.a.process->output().find("deadlock detected") != std::string::npos ||
      system.b.process->output().find("deadlock detected") != std::string::npos;
  BOOST_TEST(server_errors == 0, server_errors
                                     << " POST /orders answered 5xx or lost (retried)"
                                     << (deadlocked ? "; a node logged PostgreSQL "
                                                      "\"deadlock detected\" in a journal "
                                                      "batch"
                                                    : ""));

  // Every saga ends.
  BOOST_TEST(wait_for([&] { return open_sagas(system.db) == 0; }, 90s), open_sagas(system.db)
                                                                            << " sagas still open");

  // Both nodes' settlement runners settle the confirmed sales (each once: settling again records
  // nothing), within their interval.
  BOOST_TEST(
      wait_for([&] { return std::stoi(system.db.query_value(unsettled_sales_sql)) == 0; }, 30s),
      system.db.query_value(unsettled_sales_sql) << " sale lines unsettled");
  // ... and notify them (each once: both may send it, the notification records it once).
  BOOST_TEST(
      wait_for([&] { return std::stoi(system.db.query_value(unnotified_sales_sql)) == 0; }, 30s),
      system.db.query_value(unnotified_sales_sql) << " confirmed sales unnotified");

  // The whole history: no oversell at any position, one placement and one end per order,
  // authorizations = captures + voids, confirmed orders' stock committed.
  auto history = read_journal(system.db.pg());
  auto report = check_journal(history);
  BOOST_TEST_MESSAGE("two writers: " << report.describe());
  BOOST_TEST(report.ok(), report.describe());
  for (size_t i = 0; i < report.orders.size() && i < 3; ++i) {
    BOOST_TEST_MESSAGE("history of order " << report.orders[i] << ":\n"
                                           << describe_order(history, report.orders[i]));
  }
  std::set<std::string> order_streams;
  for (const auto& row : history) {
    if (row.stream_id.rfind("order/", 0) == 0) {
      order_streams.insert(row.stream_id.substr(6));
    }
  }
  BOOST_TEST((order_streams == order_ids),
             "order streams in the journal: " << order_streams.size()
                                              << ", keys answered: " << order_ids.size());

  // The read models are complete: every order of the journal with its final status.
  const auto expected = terminal_status_in_journal(system.db);
  std::map<std::string, std::string> projected;
  wait_for(
      [&] {
        projected = read_order_statuses(system.db);
        return projected == expected;
      },
      30s);
  for (const auto& [id, status] : expected) {
    auto found = projected.find(id);
    BOOST_TEST((found != projected.end()),
               "order " << id << " (" << status << ") is missing from read_orders");
    if (found != projected.end()) {
      BOOST_TEST(found->second == status, "read_orders has order " << id << " as " << found->second
                                                                   << ", journal: " << status);
    }
  }
}

BOOST_AUTO_TEST_CASE(one_client_over_both_gateways_gets_one_rate_limit) {
  two_nodes system;
  const auto sku = unique("tw-rl");
  auto a = system.a.client();
  auto b = system.b.client();
  BOOST_TEST_REQUIRE(
      a->request("POST", "/inventory/" + sku + "/restock", R"({"qty":1})", as(unique("restocker")))
          .status == 200u);
  BOOST_TEST_REQUIRE(wait_for([&] { return on_hand(*a, sku, unique("probe")) == 1; }, 30s));

  // 4 bursts' worth, alternating gateways, as fast as they answer.
  const auto client = unique("tw-greedy");
  int allowed = 0;
  int limited = 0;
  const auto started = std::chrono::steady_clock::now();
  for (uint32_t i = 0; i < 4 * burst; ++i) {
    auto status = (i % 2 == 0 ? a : b)->request("GET", "/inventory/" + sku, "", as(client)).status;
    allowed += status == 200u;
    limited += status == 429u;
  }
  const auto seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  // One bucket: the burst, what refilled meanwhile, and the tokens each process may have leased
  // ahead (lease_size = min(burst, rate) / 10, at least 1). Two separate buckets would admit
  // about twice the burst.
  const double lease = std::max<uint32_t>(1, std::min(burst, rate_per_s) / 10);
  const double bound = burst + rate_per_s * seconds + 2 * lease + 1;
  BOOST_TEST_MESSAGE("rate limit over two gateways: " << allowed << " allowed, " << limited
                                                      << " limited in " << seconds << " s; bound "
                                                      << bound);
  BOOST_TEST(limited > 0);
  BOOST_TEST(allowed <= bound, allowed << " requests admitted, one bucket allows " << bound);
  BOOST_TEST(allowed + limited == static_cast<int>(4 * burst));
}

BOOST_AUTO_TEST_CASE(a_change_through_one_gateway_is_read_through_the_other_at_once) {
  // Generous limits: every GET is admitted with a leased token, so that B answers from its
  // in-process near cache whenever the value is there.
  two_nodes system{{"--gateway.rate_limit_per_s=10000", "--gateway.rate_limit_burst=10000",
                    "--gateway.cache_ttl=60s", "--gateway.trusted_proxy=true"}};
  const auto sku = unique("tw-cache");
  const auto client = unique("tw-reader");
  auto a = system.a.client();
  auto b = system.b.client();
  BOOST_TEST_REQUIRE(
      a->request("POST", "/inventory/" + sku + "/restock", R"({"qty":5})", as(client)).status ==
      200u);
  BOOST_TEST_REQUIRE(wait_for([&] { return on_hand(*b, sku, client) == 5; }, 30s));

  // Each round: B caches the value (Redis and its near cache), A changes it. Once B has heard
  // an invalidation (its counter moved: the handler drops the near-cache entry first, then
  // counts), every read through B must show the new value, although B's near-cache entry (2 s)
  // and Redis entry (60 s) are still young. Whichever process's projection applies the change
  // first announces it; in rounds where it is A's, only the announcement reaches B.
  int64_t expected = 5;
  for (int round = 0; round < 8; ++round) {
    for (int i = 0; i < 3; ++i) {
      BOOST_TEST_REQUIRE(on_hand(*b, sku, client) == expected); // now in B's near cache too
    }
    const auto heard = metric(*b, "ordermesh_cache_invalidations_received_total");
    BOOST_TEST_REQUIRE(
        a->request("POST", "/inventory/" + sku + "/restock", R"({"qty":1})", as(client)).status ==
        200u);
    expected += 1;
    BOOST_TEST_REQUIRE(wait_for([&] { return on_hand(*a, sku, client) == expected; }, 30s));
    BOOST_TEST_REQUIRE(wait_for(
        [&] { return metric(*b, "ordermesh_cache_invalidations_received_total") > heard; }, 30s));
    for (int i = 0; i < 5; ++i) {
      const auto seen = on_hand(*b, sku, client);
      BOOST_TEST(seen == expected, "round " << round << ", read " << i << " through B: " << seen
                                            << " after the invalidation was heard; A reads "
                                            << expected);
    }
  }
}
