#pragma once

#include "actors/order/messages.hpp"
#include "actors/runtime/directory.hpp"
#include "config/config.hpp"
#include "gateway/api_routes.hpp"
#include "gateway/routes.hpp"
#include "observability/metrics.hpp"
#include "read_models/projections.hpp"

#include <caf/fwd.hpp>

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace ordermesh::gateway {

/// What GET /health/ready reports about the parts the gateway does not own.
struct node_health {
  /// PostgreSQL answered recently (the projection reads it continuously).
  bool postgres_up = false;
  /// The node's actors are running and take commands.
  bool serving = false;
  /// Events appended but not yet in the read models.
  int64_t projection_lag = 0;
  /// The projection cannot apply the log although PostgreSQL answers (reads go stale).
  bool projection_stuck = false;
  /// The node's core components down now (e.g. "journal" while it restarts): not ready.
  std::vector<std::string> components_down;
  /// The core components that run but whose last statement did not reach the database
  /// ("journal", "reader"). A journal among them: not ready (every write would fail); the
  /// reader: degraded (entities not in memory cannot start).
  std::vector<std::string> database_unreachable;
};

/// The HTTP API of ordermesh (see gateway/openapi.json): orders and inventory over the entity
/// hosts of one node (commands) and the SQL read models behind a Redis cache (queries), with
/// idempotency keys, per-client rate limits, health and metrics.
///
/// Handlers never block the server's io threads: validation runs there, everything touching
/// PostgreSQL or Redis runs on gateway.read_workers threads, commands are CAF requests.
/// Redis is an accelerator only: when it is down, reads go to PostgreSQL, idempotency rests on
/// the journal (the order id is derived from client and key) and rate limits are applied per
/// process.
class gateway_api {
public:
  /// `hosts` are the node's entity hosts; `health` is asked on GET /health/ready, on an io
  /// thread: it must only read state the components keep current (atomics), never block or ask
  /// an actor. The registry gets the gateway's metrics and must outlive this object; its
  /// callbacks run on io threads too (GET /metrics) and must be as cheap.
  gateway_api(caf::actor_system& sys, actors::runtime::directory_ptr hosts,
              const config::app_config& cfg, observability::metrics_registry& metrics,
              std::function<node_health()> health);
  ~gateway_api();
  gateway_api(const gateway_api&) = delete;
  gateway_api& operator=(const gateway_api&) = delete;

  /// The routes to serve (the server adds GET /health/live).
  route_table routes();

  /// Every route routes() serves (api_routes), plus the server's GET /health/live
  /// (liveness_route): what openapi.json must describe.
  static std::vector<api_route> endpoints();

  /// Called by the projection after each committed page: drops the cached reads of the changed
  /// rows and answers the requests waiting for those orders. Blocking (Redis); never call it from
  /// an io or CAF thread.
  void on_projection(const read_models::projection_changes& changes);

  /// An order ended (told by the node, see order::order_completed): answers the requests waiting
  /// for it, without reading the read model. Cheap, never blocks; any thread.
  void on_order_completed(const actors::order::order_completed& done);

  /// Answers every POST /orders?wait= still waiting (202: the order goes on), so that a graceful
  /// server stop is not held up by them. Call before stopping the server.
  void release_waiters();

  /// Finishes the blocking work already queued and refuses more. Call after the server stopped.
  void stop();

private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

/// The OpenAPI 3 document served on GET /openapi.json.
const std::string& openapi_document();

} // namespace ordermesh::gateway
