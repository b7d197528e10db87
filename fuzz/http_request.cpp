// fuzz_http_request: bytes as they arrive on one gateway connection -> Beast's request parser with
// the limits of net/server.cpp -> the request the gateway's handlers see -> the route table with
// the gateway's routes -> everything a handler checks before it needs the node (headers, query,
// body, by the routes' own checks of gateway/request_checks.hpp) -> the answer, serialized as the
// connection would write it.
//
// Pipelined requests are handled one after another, as net::server does; a refused one (400, 413)
// ends the connection, as does one without keep-alive. Checked for every request: exactly one
// answer; a problem answer is well-formed problem+json (fuzz/oracle.hpp); the serialized answer
// reads back as the same status and body.

#include "fuzz/oracle.hpp"

#include "config/config.hpp"
#include "gateway/api_routes.hpp"
#include "gateway/client_identity.hpp"
#include "gateway/order_request.hpp"
#include "gateway/problem.hpp"
#include "gateway/request_checks.hpp"
#include "gateway/routes.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/beast/http.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace {

using namespace ordermesh;
using namespace ordermesh::gateway;
namespace beast = boost::beast;
namespace http = beast::http;

/// The API key the gateway knows in these runs (seeds send it) and its client.
constexpr const char* known_key = "fuzz-key-1";

/// The defaults the gateway runs with (max_body, max_wait), plus one API key.
config::gateway_config gateway_config(bool trusted_proxy) {
  config::gateway_config c;
  c.api_keys.push_back({"shop-1", sha256_hex(known_key)});
  c.trusted_proxy = trusted_proxy;
  return c;
}
const config::gateway_config cfg = gateway_config(false);
const client_identity identity{cfg};
/// The same keys behind a trusted proxy, where X-Client-Id names the client.
const client_identity proxied_identity{gateway_config(true)};

/// More pipelined requests than this on one input add nothing but time.
constexpr int max_requests_per_input = 8;

/// The request as the gateway's handlers get it: net/server.cpp's session::on_read makes a
/// net::request of Beast's message, gateway/http_server.cpp's to_request splits the target.
request to_request(http::request<http::string_body>& msg) {
  request req;
  req.method = std::string{msg.method_string()};
  req.target = std::string{msg.target()};
  for (const auto& f : msg) {
    req.headers.emplace_back(std::string{f.name_string()}, std::string{f.value()});
  }
  req.body = std::move(msg.body());
  req.remote_address = "192.0.2.1";
  const auto q = req.target.find('?');
  req.path = req.target.substr(0, q);
  req.query = q == std::string::npos ? std::string{} : req.target.substr(q + 1);
  return req;
}

/// Keeps every answer given to one request.
struct recording_slot final : detail::answer_slot {
  void deliver(response r) override { answers.push_back(std::move(r)); }
  std::vector<response> answers;
};

// -- the gateway's handlers up to the point where they need the node -----------------------------
// Each runs the route's own check (gateway/request_checks.hpp, what gateway_api's handler calls)
// and then checks what the check let through.

/// What the real handler does next needs the node (entities, read models, Redis).
response needs_node() {
  return make_json(202, R"({"reached":"node"})");
}

bool lower_hex(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

/// gateway::identify, checked: a client is named by a known key ("key:"), by X-Client-Id (only
/// behind a trusted proxy, and then a valid id) or by the address; anything else is 401.
std::variant<std::string, problem_details> identified_as(const client_identity& who,
                                                         const request& req) {
  auto result = identify(who, req);
  if (const auto* client = std::get_if<std::string>(&result)) {
    const auto client_id = req.header("X-Client-Id");
    FUZZ_CHECK(
        *client == "key:shop-1" || *client == "ip:" + req.remote_address ||
        (&who == &proxied_identity && *client == "proxy:" + client_id && valid_id(client_id)));
  } else {
    FUZZ_CHECK(std::get<problem_details>(result).status == 401);
  }
  return result;
}

/// gateway_api::impl::client_of: only called once the route identified the client.
std::string client_of(const request& req) {
  return std::get<std::string>(identified_as(identity, req));
}

/// gateway/api_commands.cpp's traceparent_for: the caller's trace context when valid W3C (version
/// 00, lowercase hex, no all-zero id), else a fresh one. What is taken reaches the entities.
void check_traceparent(const request& req) {
  const auto header = req.header("traceparent");
  const auto taken = parse_traceparent(header);
  if (!taken) {
    return;
  }
  const std::string_view t{*taken};
  FUZZ_CHECK(t.size() == 55 && t.substr(0, 3) == "00-" && t[35] == '-' && t[52] == '-');
  FUZZ_CHECK(lower_hex(t.substr(3, 32)) && lower_hex(t.substr(36, 16)) &&
             lower_hex(t.substr(53, 2)));
  FUZZ_CHECK(t.substr(3, 32) != std::string(32, '0') && t.substr(36, 16) != std::string(16, '0'));
  FUZZ_CHECK(parse_traceparent(t) == taken); // what is passed on is taken again as it is
}

/// A request a check refused: 400, 404 or 422 (a body field, each named by a JSON pointer), with
/// the instance set, as a well-formed problem.
void check_refusal(const problem_details& p) {
  FUZZ_CHECK(p.status == 400 || p.status == 404 || p.status == 422);
  FUZZ_CHECK(!p.instance.empty() && p.instance.front() == '/');
  if (p.status == 422) {
    fuzz::check_body_problem(p);
  }
}

/// Answers the check's problem, or runs `then` with what it let through.
template <class Input, class Then>
void after_check(std::variant<Input, problem_details> checked, const responder& answer, Then then) {
  if (const auto* p = std::get_if<problem_details>(&checked)) {
    check_refusal(*p);
    return (void)answer(make_problem(*p));
  }
  then(std::get<Input>(checked));
  answer(needs_node());
}

void post_order(const request& req, const responder& answer) {
  after_check(check_place_order(req, cfg.max_wait), answer, [&](const place_order_input& in) {
    FUZZ_CHECK(valid_idempotency_key(in.idempotency_key));
    FUZZ_CHECK(in.wait.count() >= 0 && in.wait <= cfg.max_wait);
    const auto id = order_id_for(client_of(req), in.idempotency_key);
    FUZZ_CHECK(id.size() == 33 && id[0] == 'o' && lower_hex(std::string_view{id}.substr(1)));
    FUZZ_CHECK(valid_id(id)); // it becomes a path segment and a stream id
    FUZZ_CHECK(fingerprint(in.order).size() == 16);
    check_traceparent(req);
  });
}

void list_orders(const request& req, const responder& answer) {
  after_check(check_list_orders(req), answer, [&](const list_orders_input& in) {
    FUZZ_CHECK(valid_id(in.customer_id));
    FUZZ_CHECK(in.limit >= 1 && in.limit <= limits::max_page_size);
    if (in.after) {
      // A cursor the server accepts is one it could have given out: it reads back the same.
      const auto again = decode_cursor(encode_cursor(*in.after));
      FUZZ_CHECK(again && again->placed_at_us == in.after->placed_at_us &&
                 again->order_id == in.after->order_id);
    }
    client_of(req);
  });
}

void get_order(const request& req, const responder& answer) {
  after_check(check_get_order(req), answer, [&](const std::string& id) {
    FUZZ_CHECK(valid_id(id));
    client_of(req);
  });
}

void restock(const request& req, const responder& answer) {
  after_check(check_restock(req), answer, [&](const restock_input& in) {
    FUZZ_CHECK(valid_id(in.sku));
    FUZZ_CHECK(in.qty >= 1 && in.qty <= limits::max_restock_qty);
    if (!in.idempotency_key.empty()) {
      order_id_for(client_of(req), in.idempotency_key);
    }
    check_traceparent(req);
  });
}

void get_inventory(const request& req, const responder& answer) {
  after_check(check_get_inventory(req), answer, [&](const std::string& sku) {
    FUZZ_CHECK(valid_id(sku));
    client_of(req);
  });
}

/// gateway_api::routes() for a per-client route: a request that cannot be identified is answered
/// 401 with WWW-Authenticate and goes no further.
handler identified(handler h) {
  return [h = std::move(h)](const request& req, const responder& answer) {
    identified_as(proxied_identity, req);
    auto who = identified_as(identity, req);
    if (auto* p = std::get_if<problem_details>(&who)) {
      p->instance = req.path;
      auto r = make_problem(*p);
      r.headers.emplace_back("WWW-Authenticate", "Bearer");
      return (void)answer(std::move(r));
    }
    h(req, answer);
  };
}

/// The handler of `op` here: the route's check, or (routes that take no input) the node.
handler handler_for(api_operation op) {
  switch (op) {
    case api_operation::place_order:
      return post_order;
    case api_operation::list_orders:
      return list_orders;
    case api_operation::get_order:
      return get_order;
    case api_operation::restock:
      return restock;
    case api_operation::get_inventory:
      return get_inventory;
    case api_operation::get_readiness:
    case api_operation::get_metrics:
    case api_operation::get_openapi_document:
      break;
    case api_operation::get_liveness:
      return [](const request&, const responder& answer) {
        answer(make_json(200, R"({"status":"live"})"));
      };
  }
  return [](const request&, const responder& answer) { answer(needs_node()); };
}

/// gateway_api::routes() plus http_server's own /health/live: the same table (api_routes.hpp).
route_table gateway_routes() {
  route_table t;
  for (const auto& route : api_routes) {
    auto h = handler_for(route.operation);
    t.add(route.method, route.pattern, route.per_client ? identified(std::move(h)) : std::move(h),
          route.consumes);
  }
  t.add(liveness_route.method, liveness_route.pattern, handler_for(liveness_route.operation));
  return t;
}

/// The refusals of gateway/http_server.cpp's on_refusal.
response refusal(beast::error_code ec) {
  if (ec == http::error::body_limit) {
    return make_problem({413, "about:blank", "",
                         "request bodies are limited to " + std::to_string(cfg.max_body) + " bytes",
                         ""});
  }
  return make_problem(
      {400, "about:blank", "", "the request is not valid HTTP/1.1: " + ec.message(), ""});
}

/// Writes `r` as net/server.cpp's session::prepare and write() do, reads it back as a client
/// would, and checks that the client gets what the handler answered.
void check_written(const response& r, unsigned version, bool keep_alive) {
  fuzz::check_answer(r);
  http::response<http::string_body> res;
  res.version(version);
  res.result(r.status);
  res.set(http::field::server, "ordermesh-gateway");
  res.set(http::field::content_type, r.content_type);
  for (const auto& [name, value] : r.headers) {
    res.set(name, value);
  }
  res.body() = r.body;
  res.keep_alive(keep_alive);
  res.prepare_payload();
  std::ostringstream wire;
  wire << res;
  const auto bytes = wire.str();

  http::response_parser<http::string_body> client;
  client.eager(true);
  client.body_limit(bytes.size());
  beast::error_code ec;
  client.put(boost::asio::buffer(bytes), ec);
  FUZZ_CHECK(!ec && client.is_done());
  FUZZ_CHECK(client.get().result_int() == r.status);
  FUZZ_CHECK(client.get().body() == r.body);
}

const route_table routes = gateway_routes();

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  std::string_view unread{reinterpret_cast<const char*>(data), size};
  for (int n = 0; n < max_requests_per_input && !unread.empty(); ++n) {
    // One request, as net/server.cpp's read_next() sets its parser up.
    http::request_parser<http::string_body> parser;
    parser.eager(true);
    parser.body_limit(cfg.max_body);
    beast::error_code ec;
    while (!ec && !parser.is_done() && !unread.empty()) {
      const auto used = parser.put(boost::asio::buffer(unread.data(), unread.size()), ec);
      unread.remove_prefix(used);
      if (ec == http::error::need_more) {
        ec = {};
        if (used == 0) {
          unread = {}; // the connection waits for bytes that never come: end of stream
        }
      }
    }
    if (!ec && !parser.is_done()) {
      // The client closed mid-request: Beast's read reports partial_message, the server a 400.
      if (!parser.got_some()) {
        break;
      }
      parser.put_eof(ec);
      if (!ec && !parser.is_done()) {
        ec = http::error::partial_message;
      }
    }
    if (ec) {
      check_written(refusal(ec), 11, false);
      break;
    }
    auto& msg = parser.get();
    const bool keep_alive = msg.keep_alive();
    const unsigned version = msg.version();
    const auto req = to_request(msg);
    auto slot = std::make_shared<recording_slot>();
    routes.dispatch(req, responder{slot});
    FUZZ_CHECK(slot->answers.size() == 1);
    check_written(slot->answers.front(), version, keep_alive);
    if (!keep_alive) {
      break;
    }
  }
  return 0;
}
