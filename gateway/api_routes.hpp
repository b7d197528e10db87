#pragma once

// The one table of the API's routes: gateway_api::routes() builds the router from it,
// gateway_api::endpoints() (what openapi.json must describe) lists it, and the fuzz target
// fuzz/http_request.cpp routes its inputs with it. Pure data: no handler code here.

#include "gateway/routes.hpp"

#include <cstdint>

namespace ordermesh::gateway {

/// What a route does; gateway_api binds one handler to each (a switch without default, so a new
/// operation without a handler does not compile cleanly).
enum class api_operation : uint8_t {
  place_order,
  list_orders,
  get_order,
  restock,
  get_inventory,
  get_readiness,
  get_metrics,
  get_openapi_document,
  /// GET /health/live: answered by http_server itself (liveness_route), never by gateway_api.
  get_liveness,
};

/// One route of the API: what the router serves and what openapi.json says of it.
struct api_route {
  api_operation operation;
  const char* method;
  /// Absolute path; `{name}` segments are parameters (route_table).
  const char* pattern;
  /// What the route accepts as body (json: another Content-Type is 415).
  body_kind consumes;
  /// Identified and rate limited per client: a wrong API key is 401, too many requests 429.
  /// Probes, scrapes and the document are neither, so that nothing a client does can hide them.
  bool per_client;
  /// The operationId of the route's description in openapi.json.
  const char* operation_id;
};

/// GET /health/live, which http_server answers whatever its routes.
inline constexpr api_route liveness_route{
    api_operation::get_liveness, "GET", "/health/live", body_kind::any, false, "getLiveness"};

/// Every route gateway_api serves, in dispatch order (the server adds liveness_route).
inline constexpr api_route api_routes[] = {
    {api_operation::place_order, "POST", "/orders", body_kind::json, true, "placeOrder"},
    {api_operation::list_orders, "GET", "/orders", body_kind::any, true, "listOrders"},
    {api_operation::get_order, "GET", "/orders/{id}", body_kind::any, true, "getOrder"},
    {api_operation::restock, "POST", "/inventory/{sku}/restock", body_kind::json, true,
     "restockSku"},
    {api_operation::get_inventory, "GET", "/inventory/{sku}", body_kind::any, true, "getInventory"},
    {api_operation::get_readiness, "GET", "/health/ready", body_kind::any, false, "getReadiness"},
    {api_operation::get_metrics, "GET", "/metrics", body_kind::any, false, "getMetrics"},
    {api_operation::get_openapi_document, "GET", "/openapi.json", body_kind::any, false,
     "getOpenApiDocument"},
};

} // namespace ordermesh::gateway
