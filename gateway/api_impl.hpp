#pragma once

// The internals of gateway_api, shared by the files that implement it (api.cpp: the public face
// and the route table; api_admission.cpp: client identity, rate limits, leases, the worker pool;
// api_commands.cpp: POST /orders and restock; api_queries.cpp: GET order, list, inventory;
// api_read_path.cpp: near cache -> Redis -> PostgreSQL and projection feedback; api_health.cpp:
// construction, metrics and readiness). Not part of the gateway's interface: include api.hpp.

#include "gateway/api.hpp"

#include "actors/common/envelope.hpp"
#include "actors/order/replies.hpp"
#include "cache/rate_limiter.hpp"
#include "cache/read_cache.hpp"
#include "cache/redis_subscriber.hpp"
#include "gateway/client_identity.hpp"
#include "gateway/idempotency_store.hpp"
#include "gateway/near_cache.hpp"
#include "gateway/order_request.hpp"
#include "gateway/order_watch.hpp"
#include "gateway/redis_watch.hpp"
#include "gateway/request_checks.hpp"
#include "gateway/worker_pool.hpp"
#include "read_models/projections.hpp"

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/allowed_unsafe_message_type.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <variant>

namespace ordermesh::gateway {

/// Thrown by a cache loader when PostgreSQL failed, so that every caller sharing the load
/// answers 503 rather than 404.
struct read_failed {
  std::string detail;
};

nlohmann::json order_json(const read_models::order_row& o);

bool terminal(const std::string& status);

/// What a blocking worker thread owns: its own read-model connection.
struct read_worker {
  explicit read_worker(const config::pg_config& pg) : reads(pg, "gateway-reads") {}
  read_models::projector reads;
};

/// What POST /orders carries from the io thread to the worker, the placer actor and whoever
/// answers (the order's reply, its watch, or the wait's deadline on the io thread).
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

  // -- a ?wait, shared by the order's reply, its watch and the wait's deadline -----------------
  std::mutex mutex;
  /// The status the order accepted the command with, once it has.
  std::optional<std::string> accepted_status;
  /// The wait ran out: the answer is 202 with accepted_status (now, or when the order accepts).
  bool wait_over = false;
  /// The order watch's ticket, once watching.
  uint64_t ticket = 0;
};

using placement_ptr = std::shared_ptr<placement>;

/// The input `checked` found, or nullopt after answering the problem it found.
template <class Input>
std::optional<Input> passed(std::variant<Input, problem_details> checked, const responder& answer) {
  if (auto* p = std::get_if<problem_details>(&checked)) {
    answer(make_problem(*p));
    return std::nullopt;
  }
  return std::get<Input>(std::move(checked));
}

struct gateway_api::impl : std::enable_shared_from_this<gateway_api::impl> {
  impl(caf::actor_system& sys, actors::runtime::directory_ptr hosts, const config::app_config& cfg,
       observability::metrics_registry& metrics, std::function<node_health()> health);

  // -- admission (api_admission.cpp) --------------------------------------------------------------

  /// Tokens taken from the Redis bucket at a time: a tenth of a second's rate or of the burst.
  static uint32_t lease_size(const config::gateway_config& g);

  /// Admits on the calling (io) thread with a leased token, without blocking.
  bool admit_locally(const std::string& client);

  /// Runs `work` on a worker thread, or answers 503 when the workers are saturated.
  void offload(const responder& answer, const std::string& instance,
               std::function<void(read_worker&)> work);

  /// Who `req` is (client_identity::identify), or the 401 problem for it.
  std::variant<std::string, problem_details> identify(const request& req) const;

  /// The client a request counts against. Only for requests that routes() identified already
  /// (a request it could not identify was answered 401 and never reaches a handler).
  std::string client_of(const request& req) const;

  /// Takes a lease of tokens from the client's Redis bucket (one for this request, the rest for
  /// admit_locally), or a single token when less than a lease is left, or a token this process
  /// leased meanwhile; when not even that, answers 429 and returns false. Blocking.
  bool admit(const std::string& client, const responder& answer, const std::string& instance);

  // -- the layered read path (api_read_path.cpp) --------------------------------------------------

  /// Where every process's projection announces the cache keys it invalidates, so that each
  /// gateway drops its near-cache copy (the Redis copy is already gone).
  static constexpr const char* invalidation_channel = "om:invalidate";

  /// How long a value stays in the in-process cache at most (invalidations drop it earlier).
  static constexpr std::chrono::milliseconds near_cache_ttl{2000};

  /// The JSON of `key` from Redis, or else from `load` (which throws read_failed when PostgreSQL
  /// fails), kept in the near cache too (unless Redis failed to mark the key, so other processes
  /// would not announce its invalidations); nullopt when the row does not exist.
  std::optional<std::string> layered(const std::string& key,
                                     const std::function<std::optional<std::string>()>& load);

  /// Answers a GET from the near cache on the io thread when the client has a leased token and
  /// the value is there; otherwise runs `slow(admitted)` on a worker.
  void read_fast_or_offload(const request& req, const responder& answer, const std::string& key,
                            const std::string& instance,
                            std::function<void(read_worker&, bool admitted)> slow);

  /// The JSON of a read-model row: nullopt when absent; throws read_failed when the read failed.
  template <class View, class ToJson>
  static std::optional<std::string> body_of(const persistence::store_result<std::optional<View>>& v,
                                            ToJson to_json);

  std::optional<std::string> inventory_body(read_worker& w, const std::string& sku);

  std::optional<std::string> order_body(read_worker& w, const std::string& id);

  static response unavailable(const std::string& instance, const std::string& what);

  /// Cached reads dropped for the rows the projection changed; waiting orders answered.
  void on_projection(const read_models::projection_changes& changes);

  // -- commands (api_commands.cpp) ----------------------------------------------------------------

  /// `timeout`: how long the entity may still start the command (default command_timeout).
  actors::envelope envelope_for(std::string message_id, std::string correlation,
                                std::string traceparent,
                                std::optional<std::chrono::milliseconds> timeout = {}) const;

  /// Answers the problem with this status, type, detail and instance.
  void bad(const responder& answer, unsigned status, const char* type, std::string detail,
           const std::string& instance);

  /// POST /orders: checked on the io thread (which also arms the ?wait's deadline); placed from
  /// there when a leased token admits it, else admit_then_place on a worker. The idempotency
  /// record is read only when the order's reply says the command repeats one it had, or when
  /// the command failed (replay_or).
  void post_order(const request& req, const responder& answer);

  /// On a worker: the rate limit (Redis), then the command.
  void admit_then_place(const placement_ptr& pl);

  /// On a worker: replays the first answer recorded for `pl`'s key (Idempotent-Replayed), or
  /// answers 422 idempotency-key-reused when it was for another body; runs `otherwise` when
  /// nothing is recorded (never written, expired, Redis flushed or down) or no worker is free.
  void replay_or(const placement_ptr& pl, std::function<void()> otherwise);

  /// Time from now until `margin` before the request's own deadline (its arrival plus
  /// gateway.request_timeout, when the server answers 504); negative once that has passed.
  std::chrono::milliseconds request_left(const placement& pl,
                                         std::chrono::milliseconds margin) const;

  /// How long an accepted order may still be waited for: the wait the client asked for, cut
  /// short so that the answer (202 with the order's state) is out before request_timeout from
  /// the request's arrival, when the server would answer 504 instead.
  std::chrono::milliseconds wait_left(const placement& pl) const;

  /// How long the PlaceOrder command may take: gateway.command_timeout, cut so that its answer
  /// (or its timeout's) is out before request_timeout from the request's arrival, however long
  /// the request waited for a worker.
  std::chrono::milliseconds command_deadline(const placement& pl) const;

  /// Starts `placer`, the one actor that sends every PlaceOrder of this gateway and reads the
  /// replies (no actor per request). Called once, by gateway_api's constructor.
  void start_placer();

  /// Hands PlaceOrder to the placer.
  void place(const placement_ptr& pl);

  /// In the placer (`actor`): sends PlaceOrder for `pl` and handles its reply: on_accepted, or
  /// for a repeat (order_reply::repeated) replay_or with on_accepted, or the error's answer
  /// (after replay_or unless the order rejected the command). An exception in any of it
  /// answers that request 500 only.
  void send_place_order(caf::event_based_actor* actor, const placement_ptr& pl);

  /// The order accepted the command with `summary`: answers now (no wait, or the order ended, or
  /// the wait ran out already), else watches the order until it ends.
  void on_accepted(const placement_ptr& pl, const actors::order::order_summary& summary);

  /// On the io thread when the ?wait runs out: 202 with the accepted status, or, before the
  /// order accepted the command, that answer when it does (504 at request_timeout at the latest).
  void wait_ran_out(const placement_ptr& pl);

  /// The answer to an accepted PlaceOrder: 202 while running (or when not waiting), else 201
  /// confirmed, 409 rejected (out of stock), 422 unknown-sku (rejected: the inventory never
  /// stocked a line's SKU), 422 cancelled (payment); remembered under the key.
  void answer_placed(const placement& pl, const std::string& status, const std::string& reason,
                     bool final_answer);

  /// POST /inventory/{sku}/restock.
  void restock(const request& req, const responder& answer);

  // -- queries (api_queries.cpp) ------------------------------------------------------------------

  /// GET /orders/{id}.
  void get_order(const request& req, const responder& answer);

  /// GET /orders?customer=.
  void list_orders(const request& req, const responder& answer);

  /// GET /inventory/{sku}.
  void get_inventory(const request& req, const responder& answer);

  // -- health and metrics (api_health.cpp) --------------------------------------------------------

  /// On the io thread: reads what the components keep current, never waits on anything, so a
  /// flood of probes costs no worker and no command its seat.
  void ready(const request&, const responder& answer);

  /// GET /metrics, on the io thread: every figure is kept current by its component (no fan-out,
  /// no worker).
  void metrics_page(const request&, const responder& answer);

  /// GET /openapi.json: openapi_document().
  void openapi_page(const request&, const responder& answer);

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
  /// See start_placer(); stopped by gateway_api::stop().
  caf::actor placer;
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

} // namespace ordermesh::gateway

// Local only: the placer actor is in the same process as the requests it answers.
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(ordermesh::gateway::placement_ptr)
