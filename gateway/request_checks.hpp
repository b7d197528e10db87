#pragma once

// One pure check per route of api_routes.hpp: everything a handler verifies of a request (path
// parameters, query, headers, body) before it touches the node, Redis or PostgreSQL. The handlers
// of gateway_api call them, and so does the fuzz target fuzz/http_request.cpp: what it fuzzes is
// what the gateway runs. Value in, value out; no I/O.

#include "gateway/client_identity.hpp"
#include "gateway/order_request.hpp"
#include "gateway/routes.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>

namespace ordermesh::gateway {

/// Who `req` is (client_identity::identify over its Authorization, X-Api-Key and X-Client-Id
/// headers and its peer address), or the 401 problem for it.
std::variant<std::string, problem_details> identify(const client_identity& identity,
                                                    const request& req);

/// POST /orders, checked.
struct place_order_input {
  std::string idempotency_key;
  /// How long to wait for the order to finish (?wait=, 0 when absent).
  std::chrono::milliseconds wait{0};
  order_input order;
};

/// POST /orders: 400 idempotency-key when the Idempotency-Key header is absent or not 1 to 128
/// visible ASCII characters; 400 invalid-request when the query is malformed or wait is not 0 to
/// `max_wait` milliseconds; else parse_order's 400 / 422. Problems have instance "/orders".
std::variant<place_order_input, problem_details>
check_place_order(const request& req, std::chrono::milliseconds max_wait);

/// GET /orders?customer=, checked.
struct list_orders_input {
  std::string customer_id;
  int32_t limit = limits::default_page_size;
  /// Where the page starts (after this order), from ?cursor=.
  std::optional<page_cursor> after;
};

/// GET /orders: 400 invalid-request when the query is malformed, customer is not a valid id,
/// limit is not 1 to max_page_size, or cursor is not one this server gave out.
std::variant<list_orders_input, problem_details> check_list_orders(const request& req);

/// GET /orders/{id}: the id, or 404 not-found when it cannot name an order.
std::variant<std::string, problem_details> check_get_order(const request& req);

/// POST /inventory/{sku}/restock, checked.
struct restock_input {
  std::string sku;
  /// "" when the request has none (then each request is a new restock).
  std::string idempotency_key;
  int64_t qty = 0;
};

/// POST /inventory/{sku}/restock: 400 invalid-request for a SKU that is not a valid id, 400
/// idempotency-key for a present but invalid Idempotency-Key, else parse_restock's 400 / 422.
std::variant<restock_input, problem_details> check_restock(const request& req);

/// GET /inventory/{sku}: the SKU, or 404 not-found when it cannot name one.
std::variant<std::string, problem_details> check_get_inventory(const request& req);

} // namespace ordermesh::gateway
