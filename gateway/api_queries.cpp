#include "gateway/api_impl.hpp"

namespace ordermesh::gateway {

using nlohmann::json;

void gateway_api::impl::get_order(const request& req, const responder& answer) {
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

void gateway_api::impl::list_orders(const request& req, const responder& answer) {
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
      body["next"] =
          "/orders?customer=" + customer + "&limit=" + std::to_string(limit) + "&cursor=" + cursor;
    }
    answer(make_json(200, body.dump()));
  });
}

void gateway_api::impl::get_inventory(const request& req, const responder& answer) {
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

} // namespace ordermesh::gateway
