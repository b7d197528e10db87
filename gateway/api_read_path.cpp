#include "gateway/api_impl.hpp"

#include "actors/order/messages.hpp"

#include <cstdio>
#include <ctime>

namespace ordermesh::gateway {

using nlohmann::json;

namespace {

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

json inventory_json(const read_models::inventory_row& v) {
  return {{"sku", v.sku},
          {"on_hand", v.on_hand},
          {"reserved", v.reserved},
          {"available", v.available()},
          {"version", v.version}};
}

} // namespace

json order_json(const read_models::order_row& o) {
  json lines = json::array();
  for (const auto& l : o.lines) {
    lines.push_back({{"sku", l.sku}, {"qty", l.qty}});
  }
  return {{"order_id", o.order_id},
          {"customer_id", o.customer_id},
          {"status", actors::order::to_string(o.status)},
          {"reason", o.reason},
          {"amount_cents", o.amount_cents},
          {"lines", std::move(lines)},
          {"placed_at", iso8601(o.placed_at_us)},
          {"updated_at", iso8601(o.updated_at_us)},
          {"version", o.version}};
}

bool terminal(const std::string& status) {
  const auto named = actors::order::order_status_from(status);
  return named && actors::order::is_terminal(*named);
}

std::optional<std::string>
gateway_api::impl::layered(const std::string& key,
                           const std::function<std::optional<std::string>()>& load) {
  const auto ticket = near.begin_fill(key);
  try {
    auto read = cache.read(key, load);
    // A copy that other processes' invalidations would not be announced for is not kept.
    near.fill(key, ticket, read.announced ? read.value : std::nullopt);
    return std::move(read.value);
  } catch (...) {
    near.fill(key, ticket, std::nullopt);
    throw;
  }
}

void gateway_api::impl::read_fast_or_offload(
    const request& req, const responder& answer, const std::string& key,
    const std::string& instance, std::function<void(read_worker&, bool admitted)> slow) {
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

template <class View, class ToJson>
std::optional<std::string>
gateway_api::impl::body_of(const persistence::store_result<std::optional<View>>& v,
                           ToJson to_json) {
  if (!v) {
    throw read_failed{v.error().detail};
  }
  if (!*v) {
    return std::nullopt;
  }
  return to_json(**v).dump();
}

std::optional<std::string> gateway_api::impl::inventory_body(read_worker& w,
                                                             const std::string& sku) {
  return layered("inventory:" + sku,
                 [&] { return body_of(w.reads.get_inventory(sku), inventory_json); });
}

std::optional<std::string> gateway_api::impl::order_body(read_worker& w, const std::string& id) {
  return layered("order:" + id, [&] { return body_of(w.reads.get_order(id), order_json); });
}

response gateway_api::impl::unavailable(const std::string& instance, const std::string& what) {
  auto p = problem(503, problem_type::unavailable, what + " is unavailable; retry later");
  p.instance = instance;
  auto r = make_problem(p);
  r.headers.emplace_back("Retry-After", "1");
  return r;
}

void gateway_api::impl::on_projection(const read_models::projection_changes& changes) {
  std::vector<std::string> keys;
  keys.reserve(changes.orders.size() + changes.skus.size());
  for (const auto& o : changes.orders) {
    keys.push_back("order:" + o.order_id);
  }
  for (const auto& sku : changes.skus) {
    keys.push_back("inventory:" + sku);
  }
  // Redis first, the whole page in one round trip: a near-cache fill that starts after the near
  // invalidation then reads the new row, and one that started before is voided by it.
  (void)cache.invalidate(keys);
  for (const auto& key : keys) {
    near.invalidate(key);
    invalidations.inc();
  }
  for (const auto& o : changes.orders) {
    if (terminal(o.status)) {
      watch.finished(o.order_id, {o.status, o.reason});
    }
  }
}

} // namespace ordermesh::gateway
