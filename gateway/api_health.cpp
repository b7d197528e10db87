#include "gateway/api_impl.hpp"

#include <algorithm>

namespace ordermesh::gateway {

using nlohmann::json;
using namespace std::chrono_literals;

gateway_api::impl::impl(caf::actor_system& sys, actors::runtime::directory_ptr hosts,
                        const config::app_config& cfg, observability::metrics_registry& metrics,
                        std::function<node_health()> health)
    : sys(sys), hosts(std::move(hosts)), cfg(cfg), metrics(metrics), health(std::move(health)),
      cache(cfg.redis, cache::read_cache_options{"om:cache:", cfg.gateway.cache_ttl, 0.1,
                                                 invalidation_channel, near_cache_ttl}),
      limiter(cfg.redis,
              cache::rate_limit_options{"om:rl:", cfg.gateway.rate_limit_burst,
                                        static_cast<double>(cfg.gateway.rate_limit_per_s)}),
      idempotency(cfg.redis,
                  [this](std::function<void()> drain) {
                    return pool.try_post([self = shared_from_this(),
                                          drain = std::move(drain)](read_worker&) { drain(); });
                  }),
      identity(cfg.gateway), redis_health(cfg.redis, 1000ms,
                                          [this] {
                                            // Keys whose invalidation failed (Redis was away): done
                                            // once it is back, even if no other invalidation comes.
                                            (void)cache.retry_pending_invalidations();
                                          }),
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
            // A load in flight here may have read the row before the change: no later read
            // joins it (the near cache refuses the fills it began before this).
            cache.forget_flights({key});
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
                                    {{"redis_error"}, double(s.redis_errors)},
                                    {{"invalidation_dropped"}, double(s.invalidations_dropped)}};
                              });
  metrics.add_callback_family(
      "ordermesh_cache_invalidations_pending",
      "Cache keys whose invalidation failed (Redis away) and is not done yet: read from "
      "PostgreSQL, not Redis, until it is.",
      observability::callback_type::gauge, {}, [this] {
        return std::vector<observability::callback_sample>{
            {{}, double(cache.stats().invalidations_pending)}};
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
      "ordermesh_idempotency_store_calls_total",
      "Calls to the Redis record of first answers to POST /orders: lookups (for a command the "
      "order said it had seen before, or that failed) and records written.",
      observability::callback_type::counter, {"call"}, [this] {
        auto s = idempotency.stats();
        return std::vector<observability::callback_sample>{{{"lookup"}, double(s.lookups)},
                                                           {{"remember"}, double(s.remembers)}};
      });
  metrics.add_callback_family(
      "ordermesh_idempotency_store_round_trips_total",
      "Round trips to Redis that carried the records written (pipelined SETs, one per batch).",
      observability::callback_type::counter, {}, [this] {
        return std::vector<observability::callback_sample>{
            {{}, double(idempotency.stats().round_trips)}};
      });
  metrics.add_callback_family(
      "ordermesh_idempotency_records_unwritten_total",
      "First answers not recorded for replays: the record queue was full, no worker was free "
      "to send it, or Redis failed.",
      observability::callback_type::counter, {"reason"}, [this] {
        auto s = idempotency.stats();
        return std::vector<observability::callback_sample>{
            {{"queue_full"}, double(s.queue_full)},
            {{"not_posted"}, double(s.not_posted)},
            {{"redis_error"}, double(s.redis_errors)}};
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

void gateway_api::impl::ready(const request&, const responder& answer) {
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

void gateway_api::impl::metrics_page(const request&, const responder& answer) {
  response r;
  r.content_type = std::string{observability::prometheus_content_type};
  r.body = metrics.render();
  answer(std::move(r));
}

void gateway_api::impl::openapi_page(const request&, const responder& answer) {
  answer(make_json(200, openapi_document()));
}

} // namespace ordermesh::gateway
