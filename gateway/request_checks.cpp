#include "gateway/request_checks.hpp"

#include <utility>

namespace ordermesh::gateway {

namespace {

problem_details refused(unsigned status, const char* type, std::string detail,
                        std::string instance) {
  auto p = problem(status, type, std::move(detail));
  p.instance = std::move(instance);
  return p;
}

problem_details malformed_query(std::string instance) {
  return refused(400, problem_type::invalid_request, "the query string is malformed",
                 std::move(instance));
}

problem_details invalid_idempotency_key(std::string instance) {
  return refused(400, problem_type::idempotency_key,
                 "the Idempotency-Key must be 1 to 128 visible ASCII characters",
                 std::move(instance));
}

} // namespace

std::variant<std::string, problem_details> identify(const client_identity& identity,
                                                    const request& req) {
  // The claims are views: the header values must outlive the call.
  const auto authorization = req.header("Authorization");
  const auto api_key = req.header("X-Api-Key");
  const auto client_id = req.header("X-Client-Id");
  return identity.identify({authorization, api_key, client_id, req.remote_address});
}

std::variant<place_order_input, problem_details>
check_place_order(const request& req, std::chrono::milliseconds max_wait) {
  const std::string instance = "/orders";
  place_order_input in;
  in.idempotency_key = req.header("Idempotency-Key");
  if (in.idempotency_key.empty()) {
    return refused(400, problem_type::idempotency_key,
                   "POST /orders needs an Idempotency-Key header (1 to 128 visible ASCII "
                   "characters), so that a retry cannot place the order twice",
                   instance);
  }
  if (!valid_idempotency_key(in.idempotency_key)) {
    return invalid_idempotency_key(instance);
  }
  const auto query = parse_query(req.query);
  if (!query) {
    return malformed_query(instance);
  }
  if (auto w = query->find("wait"); w != query->end()) {
    const auto ms = parse_count(w->second);
    if (!ms || *ms > max_wait.count()) {
      return refused(400, problem_type::invalid_request,
                     "wait must be a number of milliseconds from 0 to " +
                         std::to_string(max_wait.count()),
                     instance);
    }
    in.wait = std::chrono::milliseconds{*ms};
  }
  auto parsed = parse_order(req.body);
  if (auto* p = std::get_if<problem_details>(&parsed)) {
    p->instance = instance;
    return std::move(*p);
  }
  in.order = std::move(std::get<order_input>(parsed));
  return in;
}

std::variant<list_orders_input, problem_details> check_list_orders(const request& req) {
  const std::string instance = "/orders";
  const auto query = parse_query(req.query);
  if (!query) {
    return malformed_query(instance);
  }
  list_orders_input in;
  in.customer_id = query->count("customer") ? query->at("customer") : "";
  if (!valid_id(in.customer_id)) {
    return refused(400, problem_type::invalid_request,
                   "customer=<id> is required (1 to 64 characters of A-Z a-z 0-9 . _ : -)",
                   instance);
  }
  if (query->count("limit")) {
    const auto n = parse_count(query->at("limit"));
    if (!n || *n < 1 || *n > limits::max_page_size) {
      return refused(400, problem_type::invalid_request,
                     "limit must be from 1 to " + std::to_string(limits::max_page_size), instance);
    }
    in.limit = static_cast<int32_t>(*n);
  }
  if (query->count("cursor")) {
    in.after = decode_cursor(query->at("cursor"));
    if (!in.after) {
      return refused(400, problem_type::invalid_request, "cursor is not one this server gave out",
                     instance);
    }
  }
  return in;
}

std::variant<std::string, problem_details> check_get_order(const request& req) {
  const auto& id = req.params.at("id");
  if (!valid_id(id)) {
    return refused(404, problem_type::not_found, "no order " + id, "/orders/" + id);
  }
  return id;
}

std::variant<restock_input, problem_details> check_restock(const request& req) {
  restock_input in;
  in.sku = req.params.at("sku");
  const std::string instance = "/inventory/" + in.sku + "/restock";
  if (!valid_id(in.sku)) {
    return refused(400, problem_type::invalid_request,
                   "a SKU is 1 to 64 characters of A-Z a-z 0-9 . _ : -", instance);
  }
  in.idempotency_key = req.header("Idempotency-Key");
  if (!in.idempotency_key.empty() && !valid_idempotency_key(in.idempotency_key)) {
    return invalid_idempotency_key(instance);
  }
  auto parsed = parse_restock(req.body);
  if (auto* p = std::get_if<problem_details>(&parsed)) {
    p->instance = instance;
    return std::move(*p);
  }
  in.qty = std::get<int64_t>(parsed);
  return in;
}

std::variant<std::string, problem_details> check_get_inventory(const request& req) {
  const auto& sku = req.params.at("sku");
  if (!valid_id(sku)) {
    return refused(404, problem_type::not_found, "no SKU " + sku, "/inventory/" + sku);
  }
  return sku;
}

} // namespace ordermesh::gateway
