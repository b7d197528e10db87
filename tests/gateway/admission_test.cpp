// What the gateway owes commands whatever else arrives: probes and scrapes never take a command's
// seat, and a waiting POST /orders ends with the order's state, never with the server's 504.
// Against the running standalone system (real PostgreSQL and PSP stand-in).

#define BOOST_TEST_MODULE gateway_admission
#include <boost/test/unit_test.hpp>

#include "persistence/pg_event_store.hpp"
#include "tests/gateway/standalone_system.hpp"

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <future>
#include <map>
#include <mutex>
#include <thread>

using namespace ordermesh;
using namespace ordermesh::testing;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

/// A Redis that never answers: a listening socket nobody accepts on. Connections complete into
/// its backlog (or hang once it is full) and every command times out, the way a hung Redis
/// behaves. Closed when the object goes away.
class hung_redis {
public:
  hung_redis() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    BOOST_TEST_REQUIRE(fd_ >= 0);
    BOOST_TEST_REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    BOOST_TEST_REQUIRE(::listen(fd_, 4) == 0);
    BOOST_TEST_REQUIRE(::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    port_ = ntohs(addr.sin_port);
  }
  ~hung_redis() { ::close(fd_); }
  hung_redis(const hung_redis&) = delete;
  hung_redis& operator=(const hung_redis&) = delete;

  uint16_t port() const { return port_; }

private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

std::string order_for(const std::string& sku) {
  return json{{"customer_id", "cust-adm"},
              {"lines", json::array({{{"sku", sku}, {"qty", 1}}})},
              {"payment", {{"card_token", "tok_visa"}, {"amount_cents", 100}}}}
      .dump();
}

} // namespace

BOOST_AUTO_TEST_CASE(a_flood_of_metrics_scrapes_and_readiness_probes_never_turns_orders_away) {
  hung_redis redis;
  // One worker for blocking work and a short request timeout: a probe or scrape that sat in a
  // command's seat would show as a 503 or 504 on POST /orders.
  standalone_system sys{{"--redis.port=" + std::to_string(redis.port()), "--gateway.read_workers=1",
                         "--gateway.request_timeout=3s", "--gateway.command_timeout=2s",
                         "--gateway.rate_limit_per_s=100000", "--gateway.rate_limit_burst=100000"}};
  auto c = sys.client();
  const auto sku = standalone_system::unique("flood");
  BOOST_TEST_REQUIRE(
      c->request("POST", "/inventory/" + sku + "/restock", R"({"qty":1000})").status == 200u);

  std::atomic<bool> flooding{true};
  std::atomic<int> probes{0};
  std::atomic<int> probes_ready{0};
  std::vector<std::thread> flood;
  for (int i = 0; i < 64; ++i) {
    flood.emplace_back([&, i] {
      auto p = sys.client(10s);
      const char* path = i % 2 == 0 ? "/metrics" : "/health/ready";
      while (flooding) {
        try {
          const auto r = p->request("GET", path);
          ++probes;
          if (r.status == 200u && i % 2 == 1) {
            ++probes_ready;
          }
        } catch (const std::exception&) {
          p = sys.client(10s); // a timed-out call closed the connection
        }
      }
    });
  }
  BOOST_TEST_REQUIRE(eventually([&] { return probes.load() >= 64; }, 15s));

  std::map<unsigned, int> statuses;
  for (int i = 0; i < 20; ++i) {
    const auto r =
        c->request("POST", "/orders", order_for(sku),
                   {{"X-Client-Id", "adm"}, {"Idempotency-Key", standalone_system::unique("k")}});
    ++statuses[r.status];
    BOOST_TEST((r.status == 201u || r.status == 202u),
               "POST /orders answered " << r.status << ": " << r.body);
  }
  flooding = false;
  for (auto& t : flood) {
    t.join();
  }
  BOOST_TEST_MESSAGE("probes answered during the flood: " << probes.load() << " (ready "
                                                          << probes_ready.load() << ")");
  BOOST_TEST(probes_ready.load() > 0);
  // Redis hung is reported as degraded, not as not ready.
  const auto ready = c->request("GET", "/health/ready");
  BOOST_TEST(ready.status == 200u, ready.body);
  BOOST_TEST(ready.json()["checks"]["redis"] == "down");
}

BOOST_AUTO_TEST_CASE(readiness_and_metrics_answer_while_every_worker_is_busy) {
  standalone_system sys{
      {"--gateway.read_workers=1", "--gateway.request_timeout=5s", "--gateway.command_timeout=3s"}};
  // The only worker gets stuck reading an order: the read model's table is locked.
  pqxx::connection locker{persistence::pg_event_store::connection_string(sys.db().pg())};
  pqxx::work lock{locker};
  lock.exec0("LOCK TABLE read_orders IN ACCESS EXCLUSIVE MODE");
  std::thread stuck{[&] {
    auto r = sys.client(20s);
    r->request("GET", "/orders/" + standalone_system::unique("stuck"), "",
               {{"X-Client-Id", "stuck"}});
  }};
  const bool worker_waits = eventually([&] {
    return sys.db().query_value("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = "
                                "'Lock' AND datname = current_database()") != "0";
  });
  auto c = sys.client(10s);
  const auto ready = c->request("GET", "/health/ready");
  const auto metrics = c->request("GET", "/metrics");
  lock.abort();
  stuck.join();
  BOOST_TEST_REQUIRE(worker_waits);
  BOOST_TEST(ready.status == 200u, ready.body);
  BOOST_TEST(metrics.status == 200u, metrics.body);
}

BOOST_AUTO_TEST_CASE(a_wait_longer_than_the_request_timeout_ends_with_the_orders_state_not_504) {
  // The PSP answers after 4 s, the request times out after 2 s, the client may wait 5 s.
  standalone_system slow{{"--gateway.request_timeout=2s", "--gateway.command_timeout=1s",
                          "--gateway.max_wait=5s", "--psp.client_timeout=10s",
                          "--saga.step_timeout=30s"},
                         {"--psp.latency=4s"}};
  auto c = slow.client(10s);
  const auto sku = standalone_system::unique("slowpsp");
  BOOST_TEST_REQUIRE(c->request("POST", "/inventory/" + sku + "/restock", R"({"qty":5})").status ==
                     200u);
  const auto r = c->request("POST", "/orders?wait=5000", order_for(sku),
                            {{"X-Client-Id", standalone_system::unique("w")},
                             {"Idempotency-Key", standalone_system::unique("wait")}});
  BOOST_TEST_REQUIRE(r.status == 202u, r.body);
  const auto body = r.json();
  BOOST_TEST(!body.at("order_id").get<std::string>().empty());
  BOOST_TEST(body.at("status") != "confirmed", r.body);
  BOOST_TEST(r.header("Location").has_value());
}

BOOST_AUTO_TEST_CASE(a_wait_that_runs_out_while_every_worker_is_busy_ends_with_202_not_504) {
  // The PSP answers after 6 s, the request times out after 3 s: the wait runs out first, and
  // then the only worker is stuck on a locked table. The answer must not queue behind it.
  standalone_system slow{{"--gateway.read_workers=1", "--gateway.request_timeout=3s",
                          "--gateway.command_timeout=2s", "--gateway.max_wait=10s",
                          "--psp.client_timeout=10s", "--saga.step_timeout=30s"},
                         {"--psp.latency=6s"}};
  auto c = slow.client(10s);
  const auto sku = standalone_system::unique("busywait");
  BOOST_TEST_REQUIRE(c->request("POST", "/inventory/" + sku + "/restock", R"({"qty":5})").status ==
                     200u);
  auto placed = std::async(std::launch::async, [&] {
    return slow.client(10s)->request("POST", "/orders?wait=10000", order_for(sku),
                                     {{"X-Client-Id", standalone_system::unique("bw")},
                                      {"Idempotency-Key", standalone_system::unique("busy")}});
  });
  // Once the order is in the journal, the only worker gets stuck reading an order.
  if (!eventually([&] {
        return slow.db().query_value(
                   "SELECT count(*) FROM events WHERE stream_id LIKE 'order/%'") != "0";
      })) {
    const auto r = placed.get();
    BOOST_FAIL("the order was not placed: " << r.status << " " << r.body);
  }
  pqxx::connection locker{persistence::pg_event_store::connection_string(slow.db().pg())};
  pqxx::work lock{locker};
  lock.exec0("LOCK TABLE read_orders IN ACCESS EXCLUSIVE MODE");
  auto stuck = std::async(std::launch::async, [&] {
    try {
      slow.client(20s)->request("GET", "/orders/" + standalone_system::unique("stuck"), "",
                                {{"X-Client-Id", "stuck"}});
    } catch (const std::exception&) {
    }
  });
  const auto r = placed.get();
  lock.abort();
  stuck.get();
  BOOST_TEST(r.status == 202u, r.body);
  BOOST_TEST(r.header("Location").has_value());
}

BOOST_AUTO_TEST_CASE(readiness_is_503_while_the_journal_cannot_reach_the_database) {
  standalone_system sys;
  auto c = sys.client(10s);
  const auto sku = standalone_system::unique("unreach");
  BOOST_TEST_REQUIRE(c->request("POST", "/inventory/" + sku + "/restock", R"({"qty":5})").status ==
                     200u);
  // New connections to the database are refused and only the journal's is cut (its last
  // statement was the append): the projection keeps reading, the journal cannot write.
  auto admin_db = sys.db().pg();
  admin_db.dbname = "postgres";
  pqxx::connection admin{persistence::pg_event_store::connection_string(admin_db)};
  pqxx::nontransaction a{admin};
  const auto db = a.quote_name(sys.db().pg().dbname);
  a.exec0("ALTER DATABASE " + db + " ALLOW_CONNECTIONS false");
  a.exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = " +
         a.quote(sys.db().pg().dbname) + " AND query LIKE '%first_inserted%'");
  const auto during = c->request("POST", "/inventory/" + sku + "/restock", R"({"qty":5})");
  const auto ready = c->request("GET", "/health/ready");
  const auto metrics = c->request("GET", "/metrics");
  a.exec0("ALTER DATABASE " + db + " ALLOW_CONNECTIONS true");
  BOOST_TEST(metrics.body.find("ordermesh_store_reachable{component=\"journal\"} 0") !=
                 std::string::npos,
             metrics.body);
  BOOST_TEST(during.status == 503u, during.body);
  BOOST_TEST(ready.status == 503u, ready.body);
  BOOST_TEST(ready.json()["checks"]["postgres"] == "up", ready.body);
  BOOST_TEST(ready.json()["checks"]["database"]["journal"] == "unreachable", ready.body);
  // Once the journal reaches the database again (its supervisor probes it), ready again.
  BOOST_TEST(eventually([&] { return c->request("GET", "/health/ready").status == 200u; }));
  BOOST_TEST(c->request("POST", "/inventory/" + sku + "/restock", R"({"qty":5})").status == 200u);
}

namespace {

/// The value of `series` (name and labels as /metrics writes them) in `page`; 0 when absent.
double metric(const std::string& page, const std::string& series) {
  const auto at = page.find("\n" + series + " ");
  return at == std::string::npos ? 0.0 : std::stod(page.substr(at + series.size() + 2));
}

} // namespace

BOOST_AUTO_TEST_CASE(an_order_accepted_after_its_504_is_neither_replayed_nor_counted_as_202) {
  // The command's deadline is then 1.9 s after the request's arrival, and its host answers it
  // (with the order's reply, or past_deadline) within a second after that.
  standalone_system sys{{"--gateway.request_timeout=2s", "--gateway.command_timeout=1900ms"}};
  auto c = sys.client(10s);
  const auto sku = standalone_system::unique("late");
  BOOST_TEST_REQUIRE(c->request("POST", "/inventory/" + sku + "/restock", R"({"qty":5})").status ==
                     200u);
  const std::vector<std::pair<std::string, std::string>> same_request{
      {"X-Client-Id", standalone_system::unique("late")},
      {"Idempotency-Key", standalone_system::unique("late")}};
  // The journal cannot append until the lock goes: the order accepts the command only after
  // the server has answered the request 504 (and before its host would give up on it).
  pqxx::connection locker{persistence::pg_event_store::connection_string(sys.db().pg())};
  pqxx::work lock{locker};
  // EXCLUSIVE, not ACCESS EXCLUSIVE: reads go on (a new entity may read its empty stream first,
  // when it runs before its host sent it the command), only appends wait.
  lock.exec0("LOCK TABLE events IN EXCLUSIVE MODE");
  const auto first = c->request("POST", "/orders", order_for(sku), same_request);
  lock.abort();
  BOOST_TEST_REQUIRE(first.status == 504u, first.body);
  BOOST_TEST_REQUIRE(eventually([&] {
    return sys.db().query_value("SELECT count(*) FROM events WHERE stream_id LIKE 'order/%'") !=
           "0";
  }));
  // The same request again: what the client gets now is the order's state, never a replay of
  // an answer it did not get. Its reply comes after the first's (same order, one placer), so
  // by then the first's late acceptance has been handled.
  const auto again = c->request("POST", "/orders", order_for(sku), same_request);
  BOOST_TEST(again.status == 202u, again.body);
  BOOST_TEST(!again.header("Idempotent-Replayed").has_value(),
             "replayed an answer the client never got: " << again.body);
  const auto page = c->request("GET", "/metrics").body;
  BOOST_TEST(metric(page, R"(ordermesh_http_requests_total{method="POST",route="/orders",)"
                          R"(status="202"})") == 1.0,
             "only the second request was answered 202");
}

BOOST_AUTO_TEST_CASE(an_exception_while_placing_one_order_fails_that_request_only) {
  // The placer throws on the first order's acceptance.
  standalone_system sys{{"--gateway.request_timeout=2s", "--gateway.command_timeout=1s"},
                        {"--psp.latency=0ms"},
                        {{"OM_FAIL_POINT", "gateway.placer_accepted:1"}}};
  auto c = sys.client(10s);
  const auto sku = standalone_system::unique("throw");
  BOOST_TEST_REQUIRE(c->request("POST", "/inventory/" + sku + "/restock", R"({"qty":5})").status ==
                     200u);
  const auto place = [&] {
    return c->request("POST", "/orders", order_for(sku),
                      {{"X-Client-Id", standalone_system::unique("throw")},
                       {"Idempotency-Key", standalone_system::unique("throw")}});
  };
  const auto failed = place();
  BOOST_TEST(failed.status == 500u, failed.body);
  BOOST_TEST(failed.header("Content-Type").value_or("") == "application/problem+json");
  const auto next = place();
  BOOST_TEST(next.status == 202u, next.body);
}
