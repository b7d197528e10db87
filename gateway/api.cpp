#include "gateway/api.hpp"

#include "actors/inventory/messages.hpp"
#include "actors/order/actor.hpp"
#include "actors/order/messages.hpp"
#include "actors/runtime/messages.hpp"
#include "cache/rate_limiter.hpp"
#include "cache/read_cache.hpp"
#include "cache/redis_client.hpp"
#include "cache/redis_subscriber.hpp"
#include "gateway/client_identity.hpp"
#include "gateway/command_errors.hpp"
#include "gateway/idempotency_store.hpp"
#include "gateway/near_cache.hpp"
#include "gateway/order_request.hpp"
#include "gateway/order_watch.hpp"
#include "gateway/worker_pool.hpp"
#include "observability/log.hpp"

#include <caf/all.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <cassert>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <random>
#include <shared_mutex>
#include <thread>
#include <unordered_set>

namespace ordermesh::gateway {

namespace {

using nlohmann::json;
using namespace std::chrono_literals;
using actors::runtime::command_reply;
using actors::runtime::route_atom;

using done_atom = caf::atom_constant<caf::atom("done")>;
using expired_atom = caf::atom_constant<caf::atom("expired")>;

/// Thrown by a cache loader when PostgreSQL failed, so that every caller sharing the load
/// answers 503 rather than 404.
struct read_failed {
  std::string detail;
};

int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string iso8601(int64_t micros) {
  const std::time_t secs = static_cast<std::time_t>(micros / 1'000'000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char frac[16];
  std::snprintf(frac, sizeof frac, ".%06lldZ", static_cast<long long>(micros % 1'000'000));
  return std::string{buf} + frac;
}

json order_json(const persistence::order_view& o) {
  json lines = json::array();
  for (const auto& l : o.lines) {
    lines.push_back({{"sku", l.sku}, {"qty", l.qty}});
  }
  return {{"order_id", o.order_id},
          {"customer_id", o.customer_id},
          {"status", o.status},
          {"reason", o.reason},
          {"amount_cents", o.amount_cents},
          {"lines", std::move(lines)},
          {"placed_at", iso8601(o.placed_at_us)},
          {"updated_at", iso8601(o.updated_at_us)},
          {"version", o.version}};
}

json inventory_json(const persistence::inventory_view& v) {
  return {{"sku", v.sku},
          {"on_hand", v.on_hand},
          {"reserved", v.reserved},
          {"available", v.available},
          {"version", v.version}};
}

bool terminal(const std::string& status) {
  return status == "confirmed" || status == "rejected" || status == "cancelled";
}

/// A fresh W3C traceparent, or the caller's when it sent a well-formed one.
std::string traceparent_for(const request& req) {
  if (auto incoming = parse_traceparent(req.header("traceparent"))) {
    return *incoming;
  }
  thread_local std::mt19937_64 random{std::random_device{}()};
  char buf[56];
  std::snprintf(
      buf, sizeof buf, "00-%016llx%016llx-%016llx-01", static_cast<unsigned long long>(random()),
      static_cast<unsigned long long>(random()), static_cast<unsigned long long>(random()));
  return buf;
}

/// A responder that records the answer's status and latency before passing it on.
class metered_slot final : public detail::answer_slot {
public:
  metered_slot(responder inner, observability::counter_family& requests,
               observability::histogram& latency, std::string route, std::string method)
      : inner_(std::move(inner)), requests_(requests), latency_(latency), route_(std::move(route)),
        method_(std::move(method)), started_(std::chrono::steady_clock::now()) {}

  void deliver(response r) override {
    latency_.observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count());
    requests_.with({method_, route_, std::to_string(r.status)}).inc();
    inner_(std::move(r));
  }

private:
  responder inner_;
  observability::counter_family& requests_;
  observability::histogram& latency_;
  std::string route_;
  std::string method_;
  std::chrono::steady_clock::time_point started_;
};

/// What a blocking worker thread owns: its own read-model connection.
struct read_worker {
  explicit read_worker(const config::pg_config& pg) : reads(pg, "gateway-reads") {}
  persistence::projector reads;
};

/// Whether Redis answers, found out by a thread of its own that pings it every `period`, so that
/// GET /health/ready reads an atomic instead of waiting on Redis.
class redis_watch {
public:
  redis_watch(const config::redis_config& redis, std::chrono::milliseconds period)
      : client_(redis, cache::redis_client_options{200ms, 200ms, 100ms, 1000ms}),
        thread_([this, period] { run(period); }) {}
  ~redis_watch() { stop(); }

  bool up() const { return up_.load(); }

  void stop() {
    {
      std::lock_guard<std::mutex> lock{mutex_};
      stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) {
      thread_.join();
    }
  }

private:
  void run(std::chrono::milliseconds period) {
    std::unique_lock<std::mutex> lock{mutex_};
    while (!stopping_) {
      lock.unlock();
      up_ = static_cast<bool>(client_.ping());
      lock.lock();
      wake_.wait_for(lock, period, [this] { return stopping_; });
    }
  }

  cache::redis_client client_; // used by thread_ only
  std::atomic<bool> up_{false};
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_; // last: it uses the members above
};

/// What POST /orders carries from the io thread to the worker and the command's actor.
struct placement {
  explicit placement(responder a) : answer(std::move(a)) {}
  responder answer;
  std::string client;
  std::string key;
  std::string order_id;
  std::string fingerprint;
  order_input order;
  std::chrono::milliseconds wait{0};
  /// When the request arrived: its answer is due within gateway.request_timeout of it.
  std::chrono::steady_clock::time_point arrived = std::chrono::steady_clock::now();
  std::string traceparent;
  /// Already admitted by a leased rate-limit token.
  bool admitted = false;
};

} // namespace

struct gateway_api::impl : std::enable_shared_from_this<gateway_api::impl> {
  impl(caf::actor_system& sys, actors::runtime::directory_ptr hosts, const config::app_config& cfg,
       observability::metrics_registry& metrics, std::function<node_health()> health)
      : sys(sys), hosts(std::move(hosts)), cfg(cfg), metrics(metrics), health(std::move(health)),
        cache(cfg.redis, cache::read_cache_options{"om:cache:", cfg.gateway.cache_ttl, 0.1,
                                                   invalidation_channel}),
        limiter(cfg.redis,
                cache::rate_limit_options{"om:rl:", cfg.gateway.rate_limit_burst,
                                          static_cast<double>(cfg.gateway.rate_limit_per_s)}),
        idempotency(cfg.redis), identity(cfg.gateway), redis_health(cfg.redis, 1000ms),
        near(near_cache_ttl, cfg.gateway.near_cache_bytes),
        leases(lease_size(cfg.gateway), 1000ms, 100000),
        pool(cfg.gateway.read_workers, 4096,
             [pg = cfg.pg] { return std::make_unique<read_worker>(pg); }),
        requests(metrics.add_counter_family("ordermesh_http_requests_total",
                                            "HTTP requests answered, by route and status.",
                                            {"method", "route", "status"})),
        latency(metrics.add_histogram_family("ordermesh_http_request_duration_seconds",
                                             "Time from a request's arrival to its answer.",
                                             {"method", "route"})),
        rejected_busy(metrics.add_counter(
            "ordermesh_gateway_busy_total",
            "Requests answered 503 because the gateway's worker queue was full.")),
        invalidations(
            metrics.add_counter("ordermesh_cache_invalidations_total",
                                "Cached reads dropped because the projection changed their row.")),
        near_hits(metrics.add_counter(
            "ordermesh_near_cache_hits_total",
            "Reads answered from the in-process cache on the io thread (no Redis round trip).")),
        local_admissions(metrics.add_counter(
            "ordermesh_rate_limit_leased_admissions_total",
            "Requests admitted with a token leased earlier from the Redis bucket.")),
        invalidations_heard(metrics.add_counter(
            "ordermesh_cache_invalidations_received_total",
            "Invalidations heard on Redis pub/sub (from any process's projection), each dropping "
            "a near-cache entry.")),
        invalidation_listener(
            cfg.redis, invalidation_channel,
            [this](const std::string& key) {
              near.invalidate(key);
              invalidations_heard.inc();
            },
            // Whatever was published while not subscribed is lost: forget everything.
            [this] { near.clear(); }) {
    metrics.add_callback_family("ordermesh_cache_operations_total",
                                "Read-through cache outcomes (Redis cache-aside).",
                                observability::callback_type::counter, {"outcome"}, [this] {
                                  auto s = cache.stats();
                                  return std::vector<observability::callback_sample>{
                                      {{"hit"}, double(s.hits)},
                                      {{"miss"}, double(s.misses)},
                                      {{"load"}, double(s.loads)},
                                      {{"coalesced"}, double(s.coalesced)},
                                      {{"redis_error"}, double(s.redis_errors)}};
                                });
    metrics.add_callback_family(
        "ordermesh_rate_limit_decisions_total",
        "Rate-limit decisions; degraded ones were taken locally because Redis was down.",
        observability::callback_type::counter, {"decision"}, [this] {
          auto s = limiter.stats();
          return std::vector<observability::callback_sample>{{{"allowed"}, double(s.allowed)},
                                                             {{"denied"}, double(s.denied)},
                                                             {{"degraded"}, double(s.degraded)}};
        });
    metrics.add_callback_family(
        "ordermesh_gateway_queued_work", "Blocking tasks waiting for a gateway worker thread.",
        observability::callback_type::gauge, {}, [this] {
          return std::vector<observability::callback_sample>{{{}, double(pool.queued())}};
        });
    metrics.add_callback_family(
        "ordermesh_gateway_waiting_orders",
        "POST /orders?wait requests waiting for their order to finish.",
        observability::callback_type::gauge, {}, [this] {
          return std::vector<observability::callback_sample>{{{}, double(watch.waiting())}};
        });
  }

  // -- plumbing ----------------------------------------------------------------------------------

  /// Where every process's projection announces the cache keys it invalidates, so that each
  /// gateway drops its near-cache copy (the Redis copy is already gone).
  static constexpr const char* invalidation_channel = "om:invalidate";

  /// How long a value stays in the in-process cache at most (invalidations drop it earlier).
  static constexpr std::chrono::milliseconds near_cache_ttl{2000};

  /// Tokens taken from the Redis bucket at a time: a tenth of a second's rate or of the burst.
  static uint32_t lease_size(const config::gateway_config& g) {
    return std::max<uint32_t>(1, std::min(g.rate_limit_burst / 10, g.rate_limit_per_s / 10));
  }

  /// Admits on the calling (io) thread with a leased token, without blocking.
  bool admit_locally(const std::string& client) {
    if (leases.try_take(client)) {
      local_admissions.inc();
      return true;
    }
    return false;
  }

  /// Runs `work` on a worker thread, or answers 503 when the workers are saturated.
  void offload(const responder& answer, const std::string& instance,
               std::function<void(read_worker&)> work) {
    auto self = shared_from_this();
    if (!pool.try_post([self, work = std::move(work)](read_worker& w) { work(w); })) {
      rejected_busy.inc();
      auto p = problem(503, problem_type::overloaded, "the gateway is saturated; retry later");
      p.instance = instance;
      auto r = make_problem(p);
      r.headers.emplace_back("Retry-After", "1");
      answer(std::move(r));
    }
  }

  /// What `req` says about who sent it (views into `req`).
  static client_claims claims_of(const request& req, std::string& authorization,
                                 std::string& api_key, std::string& client_id) {
    authorization = req.header("Authorization");
    api_key = req.header("X-Api-Key");
    client_id = req.header("X-Client-Id");
    return {authorization, api_key, client_id, req.remote_address};
  }

  /// Who `req` is (client_identity::identify), or the 401 problem for it.
  std::variant<std::string, problem_details> identify(const request& req) const {
    std::string authorization, api_key, client_id;
    return identity.identify(claims_of(req, authorization, api_key, client_id));
  }

  /// The client a request counts against. Only for requests that routes() identified already
  /// (a request it could not identify was answered 401 and never reaches a handler).
  std::string client_of(const request& req) const {
    auto who = identify(req);
    auto* client = std::get_if<std::string>(&who);
    assert(client != nullptr && "routes() answers 401 before a handler runs");
    return client ? *client : "unidentified";
  }

  /// Takes a lease of tokens from the client's Redis bucket (one for this request, the rest for
  /// admit_locally), or a single token when less than a lease is left, or a token this process
  /// leased meanwhile; when not even that, answers 429 and returns false. Blocking.
  bool admit(const std::string& client, const responder& answer, const std::string& instance) {
    const auto lease = leases.lease_size();
    auto d = limiter.acquire(client, lease);
    if (d.allowed) {
      leases.add(client, lease - 1);
      return true;
    }
    if (lease > 1) {
      d = limiter.acquire(client, 1); // less than a lease left: still enough for this request
      if (d.allowed) {
        return true;
      }
    }
    // Concurrent requests of this client may have emptied the Redis bucket into this process's
    // leases meanwhile: those tokens are the client's too.
    if (admit_locally(client)) {
      return true;
    }
    auto p = problem(
        429, problem_type::rate_limited,
        "client " + client + " exceeded " + std::to_string(cfg.gateway.rate_limit_per_s) +
            " requests per second (burst " + std::to_string(cfg.gateway.rate_limit_burst) + ")");
    p.instance = instance;
    auto r = make_problem(p);
    const auto secs = (d.retry_after.count() + 999) / 1000;
    r.headers.emplace_back("Retry-After", std::to_string(secs < 1 ? 1 : secs));
    answer(std::move(r));
    return false;
  }

  /// `timeout`: how long the entity may still start the command (default command_timeout).
  actors::envelope envelope_for(std::string message_id, std::string correlation,
                                std::string traceparent,
                                std::optional<std::chrono::milliseconds> timeout = {}) const {
    actors::envelope env;
    env.message_id = std::move(message_id);
    env.correlation_id = std::move(correlation);
    env.traceparent = std::move(traceparent);
    env.deadline_us = now_us() + std::chrono::duration_cast<std::chrono::microseconds>(
                                     timeout.value_or(cfg.gateway.command_timeout))
                                     .count();
    return env;
  }

  /// The JSON of `key` from Redis, or else from `load` (which throws read_failed when PostgreSQL
  /// fails), kept in the near cache too; nullopt when the row does not exist.
  std::optional<std::string> layered(const std::string& key,
                                     const std::function<std::optional<std::string>()>& load) {
    const auto ticket = near.begin_fill(key);
    try {
      auto value = cache.get_or_load(key, load);
      near.fill(key, ticket, value);
      return value;
    } catch (...) {
      near.fill(key, ticket, std::nullopt);
      throw;
    }
  }

  /// Answers a GET from the near cache on the io thread when the client has a leased token and
  /// the value is there; otherwise runs `slow(admitted)` on a worker.
  void read_fast_or_offload(const request& req, const responder& answer, const std::string& key,
                            const std::string& instance,
                            std::function<void(read_worker&, bool admitted)> slow) {
    const bool admitted = admit_locally(client_of(req));
    if (admitted) {
      if (auto hit = near.get(key)) {
        near_hits.inc();
        return (void)answer(make_json(200, std::move(*hit)));
      }
    }
    offload(answer, instance,
            [slow = std::move(slow), admitted](read_worker& w) { slow(w, admitted); });
  }

  /// The JSON of a read-model row: nullopt when absent; throws read_failed when the read failed.
  template <class View, class ToJson>
  static std::optional<std::string> body_of(const persistence::store_result<std::optional<View>>& v,
                                            ToJson to_json) {
    if (!v) {
      throw read_failed{v.error().detail};
    }
    if (!*v) {
      return std::nullopt;
    }
    return to_json(**v).dump();
  }

  std::optional<std::string> inventory_body(read_worker& w, const std::string& sku) {
    return layered("inventory:" + sku,
                   [&] { return body_of(w.reads.get_inventory(sku), inventory_json); });
  }

  std::optional<std::string> order_body(read_worker& w, const std::string& id) {
    return layered("order:" + id, [&] { return body_of(w.reads.get_order(id), order_json); });
  }

  static response unavailable(const std::string& instance, const std::string& what) {
    auto p = problem(503, problem_type::unavailable, what + " is unavailable; retry later");
    p.instance = instance;
    auto r = make_problem(p);
    r.headers.emplace_back("Retry-After", "1");
    return r;
  }

  // -- POST /orders ------------------------------------------------------------------------------

  void post_order(const request& req, const responder& answer) {
    const std::string instance = "/orders";
    auto key = req.header("Idempotency-Key");
    if (key.empty()) {
      return bad(answer, 400, problem_type::idempotency_key,
                 "POST /orders needs an Idempotency-Key header (1 to 128 visible ASCII "
                 "characters), so that a retry cannot place the order twice",
                 instance);
    }
    if (!valid_idempotency_key(key)) {
      return bad(answer, 400, problem_type::idempotency_key,
                 "the Idempotency-Key must be 1 to 128 visible ASCII characters", instance);
    }
    auto query = parse_query(req.query);
    if (!query) {
      return bad(answer, 400, problem_type::invalid_request, "the query string is malformed",
                 instance);
    }
    std::chrono::milliseconds wait{0};
    if (auto w = query->find("wait"); w != query->end()) {
      auto ms = parse_count(w->second);
      if (!ms || *ms > cfg.gateway.max_wait.count()) {
        return bad(answer, 400, problem_type::invalid_request,
                   "wait must be a number of milliseconds from 0 to " +
                       std::to_string(cfg.gateway.max_wait.count()),
                   instance);
      }
      wait = std::chrono::milliseconds{*ms};
    }
    auto parsed = parse_order(req.body);
    if (auto* p = std::get_if<problem_details>(&parsed)) {
      p->instance = instance;
      return (void)answer(make_problem(*p));
    }
    placement pl{answer};
    pl.client = client_of(req);
    pl.key = key;
    pl.order = std::move(std::get<order_input>(parsed));
    pl.order_id = order_id_for(pl.client, key);
    pl.fingerprint = fingerprint(pl.order);
    pl.wait = wait;
    pl.traceparent = traceparent_for(req);
    pl.admitted = admit_locally(pl.client);
    auto self = shared_from_this();
    offload(answer, instance, [self, pl = std::move(pl)](read_worker& w) mutable {
      self->admit_and_place(w, std::move(pl));
    });
  }

  void bad(const responder& answer, unsigned status, const char* type, std::string detail,
           const std::string& instance) {
    auto p = problem(status, type, std::move(detail));
    p.instance = instance;
    answer(make_problem(p));
  }

  /// On a worker: rate limit, the idempotency record, the SKUs; then the command.
  void admit_and_place(read_worker& w, placement pl) {
    const std::string instance = "/orders";
    if (!pl.admitted && !admit(pl.client, pl.answer, instance)) {
      return;
    }
    if (auto first = idempotency.lookup(pl.client, pl.key)) {
      if (first->fingerprint != pl.fingerprint) {
        return bad(pl.answer, 422, problem_type::idempotency_key_reused,
                   "this Idempotency-Key was first used for a different order", instance);
      }
      auto r = first->answer;
      r.headers.emplace_back("Idempotent-Replayed", "true");
      return (void)pl.answer(std::move(r));
    }
    std::vector<std::string> unknown;
    try {
      for (const auto& line : pl.order.lines) {
        if (!known_sku(line.sku) && !inventory_body(w, line.sku)) {
          unknown.push_back(line.sku);
        } else {
          remember_sku(line.sku);
        }
      }
    } catch (const read_failed&) {
      return (void)pl.answer(unavailable(instance, "the inventory read model"));
    }
    if (!unknown.empty()) {
      std::string list;
      for (const auto& s : unknown) {
        list += (list.empty() ? "" : ", ") + s;
      }
      auto p = problem(422, problem_type::unknown_sku, "unknown SKU: " + list);
      p.instance = instance;
      p.extensions["unknown_skus"] = unknown;
      return (void)pl.answer(make_problem(p));
    }
    place(std::move(pl));
  }

  /// How long an accepted order may still be waited for: the wait the client asked for, cut
  /// short so that the answer (202 with the order's state) is out before request_timeout from
  /// the request's arrival, when the server would answer 504 instead.
  std::chrono::milliseconds wait_left(const placement& pl) const {
    const auto timeout = cfg.gateway.request_timeout;
    // Room for answer_placed (it answers from the waiting actor's thread) and the network.
    const auto margin = std::min<std::chrono::milliseconds>(500ms, timeout / 4);
    const auto due = pl.arrived + timeout - margin;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        due - std::chrono::steady_clock::now());
    return std::max(0ms, std::min(pl.wait, left));
  }

  /// How long the PlaceOrder command may take: gateway.command_timeout, cut so that its answer
  /// (or its timeout's) is out before request_timeout from the request's arrival, however long
  /// the request waited for a worker.
  std::chrono::milliseconds command_deadline(const placement& pl) const {
    const auto due = pl.arrived + cfg.gateway.request_timeout - 100ms;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        due - std::chrono::steady_clock::now());
    return std::max(1ms, std::min(cfg.gateway.command_timeout, left));
  }

  /// Sends PlaceOrder from a short-lived actor that answers the request: at once (202), or when
  /// the order finishes or the wait runs out (at the latest shortly before request_timeout).
  void place(placement pl) {
    auto self = shared_from_this();
    sys.spawn([self, pl = std::move(pl)](caf::event_based_actor* actor) -> caf::behavior {
      actors::order::place_order cmd{pl.order_id,
                                     pl.order.customer_id,
                                     pl.order.lines,
                                     {pl.order.card_token, pl.order.amount_cents}};
      // The message id includes the body's fingerprint: a redelivery of the same order is
      // deduplicated, while the same key with another body reaches the order's decide, which
      // rejects it as conflicting_order.
      const auto deadline = self->command_deadline(pl);
      auto env = self->envelope_for("place:" + pl.order_id + ":" + pl.fingerprint, pl.order_id,
                                    pl.traceparent, deadline);
      auto ticket = std::make_shared<uint64_t>(0);
      actor
          ->request(self->hosts->order, deadline, route_atom::value, pl.order_id, env,
                    caf::make_message(std::move(cmd)))
          .then(
              [=](command_reply& reply) {
                if (!reply.accepted) {
                  pl.answer(answer_for_order_rejection(reply, "/orders"));
                  return actor->quit();
                }
                auto summary = json::parse(reply.summary, nullptr, false);
                auto status = summary.is_object() ? summary.value("status", "placed") : "placed";
                auto reason = summary.is_object() ? summary.value("reason", "") : "";
                if (pl.wait.count() == 0 || terminal(status)) {
                  self->answer_placed(pl, status, reason, pl.wait.count() > 0);
                  return actor->quit();
                }
                caf::actor handle{actor};
                *ticket = self->watch.watch(pl.order_id, [handle](const order_outcome& o) {
                  caf::anon_send(handle, done_atom::value, o.status, o.reason);
                });
                actor->delayed_send(actor, self->wait_left(pl), expired_atom::value, status);
              },
              [=](caf::error& err) {
                pl.answer(answer_for_error(err, "/orders"));
                actor->quit();
              });
      return {
          [=](done_atom, const std::string& status, const std::string& reason) {
            // An empty status: the gateway is stopping and no longer waits.
            self->answer_placed(pl, status.empty() ? "placed" : status, reason, !status.empty());
            actor->quit();
          },
          [=](expired_atom, const std::string& status) {
            self->watch.cancel(pl.order_id, *ticket);
            self->answer_placed(pl, status, "", false);
            actor->quit();
          },
      };
    });
  }

  /// The answer to an accepted PlaceOrder: 202 while running (or when not waiting), else 201
  /// confirmed, 409 rejected (out of stock), 422 cancelled (payment); remembered under the key.
  void answer_placed(const placement& pl, const std::string& status, const std::string& reason,
                     bool final_answer) {
    const auto location = "/orders/" + pl.order_id;
    response r;
    if (!final_answer || !terminal(status)) {
      r = make_json(202, json{{"order_id", pl.order_id}, {"status", status}}.dump());
    } else if (status == "confirmed") {
      r = make_json(201, json{{"order_id", pl.order_id}, {"status", status}}.dump());
    } else {
      const bool rejected = status == "rejected";
      auto p = problem(rejected ? 409 : 422,
                       rejected ? problem_type::order_rejected : problem_type::order_cancelled,
                       "order " + pl.order_id + " was " + status +
                           (reason.empty() ? "" : ": " + reason));
      p.instance = location;
      p.extensions = {{"order_id", pl.order_id}, {"order_status", status}, {"reason", reason}};
      r = make_problem(p);
    }
    r.headers.emplace_back("Location", location);
    // Answered here, on the thread that learned the outcome: queued behind the workers (or a
    // Redis write) it could miss request_timeout. The record is written off the answer path;
    // a retry that arrives before it is still safe, since the order id comes from client and key
    // and the order deduplicates the command (without a free worker it is not written at all).
    auto self = shared_from_this();
    (void)pool.try_post([self, client = pl.client, key = pl.key, fingerprint = pl.fingerprint,
                         remembered = r](read_worker&) {
      self->idempotency.remember(client, key, fingerprint, remembered);
    });
    pl.answer(std::move(r));
  }

  // -- GET /orders/{id}, GET /orders?customer= ---------------------------------------------------

  void get_order(const request& req, const responder& answer) {
    auto id = req.params.at("id");
    const std::string instance = "/orders/" + id;
    if (!valid_id(id)) {
      return bad(answer, 404, problem_type::not_found, "no order " + id, instance);
    }
    auto client = client_of(req);
    auto self = shared_from_this();
    read_fast_or_offload(req, answer, "order:" + id, instance, [=](read_worker& w, bool admitted) {
      if (!admitted && !self->admit(client, answer, instance)) {
        return;
      }
      try {
        auto body = self->order_body(w, id);
        if (!body) {
          return self->bad(answer, 404, problem_type::not_found,
                           "no order " + id + " (an order appears here shortly after it is placed)",
                           instance);
        }
        answer(make_json(200, std::move(*body)));
      } catch (const read_failed&) {
        answer(unavailable(instance, "the order read model"));
      }
    });
  }

  void list_orders(const request& req, const responder& answer) {
    const std::string instance = "/orders";
    auto query = parse_query(req.query);
    if (!query) {
      return bad(answer, 400, problem_type::invalid_request, "the query string is malformed",
                 instance);
    }
    auto customer = query->count("customer") ? query->at("customer") : "";
    if (!valid_id(customer)) {
      return bad(answer, 400, problem_type::invalid_request,
                 "customer=<id> is required (1 to 64 characters of A-Z a-z 0-9 . _ : -)", instance);
    }
    int32_t limit = limits::default_page_size;
    if (query->count("limit")) {
      auto n = parse_count(query->at("limit"));
      if (!n || *n < 1 || *n > limits::max_page_size) {
        return bad(answer, 400, problem_type::invalid_request,
                   "limit must be from 1 to " + std::to_string(limits::max_page_size), instance);
      }
      limit = static_cast<int32_t>(*n);
    }
    std::optional<persistence::order_cursor> after;
    if (query->count("cursor")) {
      auto c = decode_cursor(query->at("cursor"));
      if (!c) {
        return bad(answer, 400, problem_type::invalid_request,
                   "cursor is not one this server gave out", instance);
      }
      after = persistence::order_cursor{c->placed_at_us, c->order_id};
    }
    auto client = client_of(req);
    auto self = shared_from_this();
    const bool admitted = admit_locally(client);
    offload(answer, instance, [=](read_worker& w) {
      if (!admitted && !self->admit(client, answer, instance)) {
        return;
      }
      auto page = w.reads.list_orders(customer, after, limit);
      if (!page) {
        return (void)answer(unavailable(instance, "the order read model"));
      }
      json orders = json::array();
      for (const auto& o : page->orders) {
        orders.push_back(order_json(o));
      }
      json body{{"orders", std::move(orders)}, {"next_cursor", nullptr}, {"next", nullptr}};
      if (page->next) {
        auto cursor = encode_cursor({page->next->placed_at_us, page->next->order_id});
        body["next_cursor"] = cursor;
        body["next"] = "/orders?customer=" + customer + "&limit=" + std::to_string(limit) +
                       "&cursor=" + cursor;
      }
      answer(make_json(200, body.dump()));
    });
  }

  // -- inventory ---------------------------------------------------------------------------------

  void restock(const request& req, const responder& answer) {
    auto sku = req.params.at("sku");
    const std::string instance = "/inventory/" + sku + "/restock";
    if (!valid_id(sku)) {
      return bad(answer, 400, problem_type::invalid_request,
                 "a SKU is 1 to 64 characters of A-Z a-z 0-9 . _ : -", instance);
    }
    auto key = req.header("Idempotency-Key");
    if (!key.empty() && !valid_idempotency_key(key)) {
      return bad(answer, 400, problem_type::idempotency_key,
                 "the Idempotency-Key must be 1 to 128 visible ASCII characters", instance);
    }
    auto parsed = parse_restock(req.body);
    if (auto* p = std::get_if<problem_details>(&parsed)) {
      p->instance = instance;
      return (void)answer(make_problem(*p));
    }
    const auto qty = std::get<int64_t>(parsed);
    auto client = client_of(req);
    // With a key, a retry is the same restock (deduplicated by the entity); without one, each
    // request is a new restock.
    thread_local std::mt19937_64 random{std::random_device{}()};
    auto message_id = "restock:" + sku + ":" +
                      (key.empty() ? "r" + std::to_string(random()) : order_id_for(client, key));
    auto env = envelope_for(message_id, "", traceparent_for(req));
    auto self = shared_from_this();
    const bool admitted = admit_locally(client);
    offload(answer, instance, [=](read_worker&) {
      if (!admitted && !self->admit(client, answer, instance)) {
        return;
      }
      self->sys.spawn([=](caf::event_based_actor* actor) {
        actor
            ->request(self->hosts->inventory, self->cfg.gateway.command_timeout, route_atom::value,
                      sku, env, caf::make_message(actors::inventory::restock{qty}))
            .then(
                [=](command_reply& reply) {
                  if (!reply.accepted) {
                    answer(answer_for_inventory_rejection(reply, instance));
                  } else {
                    self->remember_sku(sku);
                    auto body = json::parse(reply.summary, nullptr, false);
                    if (!body.is_object()) {
                      body = json::object();
                    }
                    body["sku"] = sku;
                    body["version"] = reply.version;
                    answer(make_json(200, body.dump()));
                  }
                  actor->quit();
                },
                [=](caf::error& err) {
                  answer(answer_for_error(err, instance));
                  actor->quit();
                });
      });
    });
  }

  void get_inventory(const request& req, const responder& answer) {
    auto sku = req.params.at("sku");
    const std::string instance = "/inventory/" + sku;
    if (!valid_id(sku)) {
      return bad(answer, 404, problem_type::not_found, "no SKU " + sku, instance);
    }
    auto client = client_of(req);
    auto self = shared_from_this();
    read_fast_or_offload(
        req, answer, "inventory:" + sku, instance, [=](read_worker& w, bool admitted) {
          if (!admitted && !self->admit(client, answer, instance)) {
            return;
          }
          try {
            auto body = self->inventory_body(w, sku);
            if (!body) {
              return self->bad(answer, 404, problem_type::not_found,
                               "no SKU " + sku + " (a SKU exists once it was restocked)", instance);
            }
            answer(make_json(200, std::move(*body)));
          } catch (const read_failed&) {
            answer(unavailable(instance, "the inventory read model"));
          }
        });
  }

  bool known_sku(const std::string& sku) const {
    std::shared_lock<std::shared_mutex> lock{skus_mutex};
    return skus.count(sku) > 0;
  }

  void remember_sku(const std::string& sku) {
    std::unique_lock<std::shared_mutex> lock{skus_mutex};
    if (skus.size() < 1'000'000) {
      skus.insert(sku);
    }
  }

  // -- health ------------------------------------------------------------------------------------

  /// On the io thread: reads what the components keep current, never waits on anything, so a
  /// flood of probes costs no worker and no command its seat.
  void ready(const request&, const responder& answer) {
    const auto node = health();
    const bool redis_up = redis_health.up();
    json degraded = json::array();
    if (!redis_up) {
      degraded.push_back("redis: reads go to PostgreSQL, rate limits are per process");
    }
    if (node.projection_stuck) {
      degraded.push_back("projection: the read models stopped at an event they cannot apply "
                         "(see the log); reads are stale, orders are still taken");
    }
    auto listed = [](const std::vector<std::string>& names, const char* name) {
      return std::find(names.begin(), names.end(), name) != names.end();
    };
    const bool journal_reaches_db = !listed(node.database_unreachable, "journal");
    if (listed(node.database_unreachable, "reader")) {
      degraded.push_back("reader: cannot reach PostgreSQL; entities not in memory cannot start");
    }
    const bool is_ready =
        node.postgres_up && node.serving && node.components_down.empty() && journal_reaches_db;
    json database = json::object();
    for (const auto* name : {"journal", "reader"}) {
      database[name] = listed(node.database_unreachable, name) ? "unreachable" : "reachable";
    }
    json components = json::object();
    for (const auto* name : {"journal", "reader", "psp"}) {
      components[name] = listed(node.components_down, name) ? "restarting" : "running";
    }
    json body{{"status", is_ready ? "ready" : "not_ready"},
              {"checks",
               {{"postgres", node.postgres_up ? "up" : "down"},
                {"node", node.serving ? "serving" : "stopped"},
                {"components", std::move(components)},
                {"database", std::move(database)},
                {"projection", node.projection_stuck ? "stuck" : "running"},
                {"redis", redis_up ? "up" : "down"}}},
              {"projection_lag", node.projection_lag},
              {"degraded", std::move(degraded)}};
    answer(make_json(is_ready ? 200 : 503, body.dump()));
  }

  // -- projection feedback -----------------------------------------------------------------------

  void on_projection(const persistence::projection_changes& changes) {
    for (const auto& o : changes.orders) {
      // Redis first: a near-cache fill that starts after the near invalidation then reads the
      // new row, and one that started before is voided by it.
      (void)cache.invalidate("order:" + o.order_id);
      near.invalidate("order:" + o.order_id);
      invalidations.inc();
      if (terminal(o.status)) {
        watch.finished(o.order_id, {o.status, o.reason});
      }
    }
    for (const auto& sku : changes.skus) {
      (void)cache.invalidate("inventory:" + sku);
      near.invalidate("inventory:" + sku);
      invalidations.inc();
    }
  }

  caf::actor_system& sys;
  actors::runtime::directory_ptr hosts;
  config::app_config cfg;
  observability::metrics_registry& metrics;
  std::function<node_health()> health;
  cache::read_cache cache;
  cache::rate_limiter limiter;
  idempotency_store idempotency;
  client_identity identity;
  redis_watch redis_health;
  near_cache near;
  token_leases leases;
  order_watch watch;
  mutable std::shared_mutex skus_mutex;
  std::unordered_set<std::string> skus;
  worker_pool<read_worker> pool;
  observability::counter_family& requests;
  observability::histogram_family& latency;
  observability::counter& rejected_busy;
  observability::counter& invalidations;
  observability::counter& near_hits;
  observability::counter& local_admissions;
  observability::counter& invalidations_heard;
  /// Last: it calls into the members above from its own thread.
  cache::redis_subscriber invalidation_listener;
};

gateway_api::gateway_api(caf::actor_system& sys, actors::runtime::directory_ptr hosts,
                         const config::app_config& cfg, observability::metrics_registry& metrics,
                         std::function<node_health()> health)
    : impl_(std::make_shared<impl>(sys, std::move(hosts), cfg, metrics, std::move(health))) {}

gateway_api::~gateway_api() {
  stop();
}

std::vector<std::pair<std::string, std::string>> gateway_api::endpoints() {
  return {{"POST", "/orders"},         {"GET", "/orders"},
          {"GET", "/orders/{id}"},     {"POST", "/inventory/{sku}/restock"},
          {"GET", "/inventory/{sku}"}, {"GET", "/health/live"},
          {"GET", "/health/ready"},    {"GET", "/metrics"},
          {"GET", "/openapi.json"}};
}

route_table gateway_api::routes() {
  route_table t;
  auto d = impl_;
  // Requests of the API routes are identified first: a wrong API key is 401 and goes no further.
  auto metered = [d](const char* method, const char* route, auto member) {
    auto& histogram = d->latency.with({method, route});
    return [d, method, route, member, &histogram](const request& req, responder answer) {
      responder wrapped{
          std::make_shared<metered_slot>(answer, d->requests, histogram, route, method)};
      if (member != &impl::ready) {
        auto who = d->identify(req);
        if (auto* p = std::get_if<problem_details>(&who)) {
          p->instance = req.path;
          auto r = make_problem(*p);
          r.headers.emplace_back("WWW-Authenticate", "Bearer");
          return (void)wrapped(std::move(r));
        }
      }
      ((*d).*member)(req, wrapped);
    };
  };
  t.add("POST", "/orders", metered("POST", "/orders", &impl::post_order), body_kind::json);
  t.add("GET", "/orders", metered("GET", "/orders", &impl::list_orders));
  t.add("GET", "/orders/{id}", metered("GET", "/orders/{id}", &impl::get_order));
  t.add("POST", "/inventory/{sku}/restock",
        metered("POST", "/inventory/{sku}/restock", &impl::restock), body_kind::json);
  t.add("GET", "/inventory/{sku}", metered("GET", "/inventory/{sku}", &impl::get_inventory));
  t.add("GET", "/health/ready", metered("GET", "/health/ready", &impl::ready));
  // On the io thread: every figure is kept current by its component (no fan-out, no worker).
  t.add("GET", "/metrics", [d](const request&, const responder& answer) {
    response r;
    r.content_type = std::string{observability::prometheus_content_type};
    r.body = d->metrics.render();
    answer(std::move(r));
  });
  t.add("GET", "/openapi.json",
        [](const request&, responder answer) { answer(make_json(200, openapi_document())); });
  return t;
}

void gateway_api::on_projection(const persistence::projection_changes& changes) {
  impl_->on_projection(changes);
}

void gateway_api::on_order_completed(const actors::order::order_completed& done) {
  impl_->watch.finished(done.order_id, {actors::order::to_string(done.status), done.reason});
}

void gateway_api::release_waiters() {
  impl_->watch.release_all();
}

void gateway_api::stop() {
  impl_->invalidation_listener.stop();
  impl_->redis_health.stop();
  impl_->pool.stop();
  release_waiters(); // any that started waiting since
}

} // namespace ordermesh::gateway
