#include "gateway/api_impl.hpp"

namespace ordermesh::gateway {

using nlohmann::json;

void gateway_api::impl::get_order(const request& req, const responder& answer) {
  const auto checked = passed(check_get_order(req), answer);
  if (!checked) {
    return;
  }
  const auto id = *checked;
  const std::string instance = "/orders/" + id;
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
  const auto checked = passed(check_list_orders(req), answer);
  if (!checked) {
    return;
  }
  const auto customer = checked->customer_id;
  const auto limit = checked->limit;
  std::optional<read_models::order_cursor> after;
  if (checked->after) {
    after = read_models::order_cursor{checked->after->placed_at_us, checked->after->order_id};
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
  const auto checked = passed(check_get_inventory(req), answer);
  if (!checked) {
    return;
  }
  const auto sku = *checked;
  const std::string instance = "/inventory/" + sku;
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
