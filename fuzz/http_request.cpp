// fuzz_http_request: bytes as they arrive on one gateway connection -> Beast's request parser with
// the limits of net/server.cpp -> the request the gateway's handlers see -> the route table with
// the gateway's routes -> everything a handler checks before it needs the node (headers, query,
// body) -> the answer, serialized as the connection would write it.
//
// Pipelined requests are handled one after another, as net::server does; a refused one (400, 413)
// ends the connection, as does one without keep-alive. Checked for every request: exactly one
// answer; a problem answer is well-formed problem+json (fuzz/oracle.hpp); the serialized answer
// reads back as the same status and body.

#include "fuzz/oracle.hpp"

#include "config/config.hpp"
#include "gateway/client_identity.hpp"
#include "gateway/order_request.hpp"
#include "gateway/problem.hpp"
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

// -- the gateway's handlers up to the point where they need the node (gateway/api.cpp) -----------

response rejected(unsigned status, const char* type, std::string detail, std::string instance) {
  auto p = problem(status, type, std::move(detail));
  p.instance = std::move(instance);
  return make_problem(p);
}

/// What the real handler does next needs the node (entities, read models, Redis).
response needs_node() {
  return make_json(202, R"({"reached":"node"})");
}

bool lower_hex(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

/// gateway_api::impl::identify: who the request is, or its 401. A client is named by a known key
/// ("key:"), by X-Client-Id (only behind a trusted proxy, and then a valid id) or by the address.
std::variant<std::string, problem_details> identify(const client_identity& who,
                                                    const request& req) {
  const auto authorization = req.header("Authorization");
  const auto api_key = req.header("X-Api-Key");
  const auto client_id = req.header("X-Client-Id");
  auto result = who.identify({authorization, api_key, client_id, req.remote_address});
  if (const auto* client = std::get_if<std::string>(&result)) {
    FUZZ_CHECK(*client == "key:shop-1" || *client == "ip:" + req.remote_address ||
               (&who == &proxied_identity && *client == "proxy:" + std::string{client_id} &&
                valid_id(client_id)));
  } else {
    FUZZ_CHECK(std::get<problem_details>(result).status == 401);
  }
  return result;
}

/// gateway_api::impl::client_of: only called once identify() named the client.
std::string client_of(const request& req) {
  return std::get<std::string>(identify(identity, req));
}

/// gateway/api.cpp's traceparent_for: the caller's trace context when valid W3C (version 00,
/// lowercase hex, no all-zero id), else a fresh one. What is taken reaches the entities' metadata.
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

void post_order(const request& req, const responder& answer) {
  const std::string instance = "/orders";
  const auto key = req.header("Idempotency-Key");
  if (key.empty() || !valid_idempotency_key(key)) {
    return (void)answer(rejected(400, problem_type::idempotency_key, "bad key", instance));
  }
  const auto query = parse_query(req.query);
  if (!query) {
    return (void)answer(rejected(400, problem_type::invalid_request, "bad query", instance));
  }
  if (const auto w = query->find("wait"); w != query->end()) {
    const auto ms = parse_count(w->second);
    if (!ms || *ms > cfg.max_wait.count()) {
      return (void)answer(rejected(400, problem_type::invalid_request, "bad wait", instance));
    }
    FUZZ_CHECK(*ms >= 0);
  }
  auto parsed = parse_order(req.body);
  if (auto* p = std::get_if<problem_details>(&parsed)) {
    fuzz::check_body_problem(*p);
    p->instance = instance;
    return (void)answer(make_problem(*p));
  }
  const auto& order = std::get<order_input>(parsed);
  const auto client = client_of(req);
  const auto id = order_id_for(client, key);
  FUZZ_CHECK(id.size() == 33 && id[0] == 'o' && lower_hex(std::string_view{id}.substr(1)));
  FUZZ_CHECK(valid_id(id)); // it becomes a path segment and a stream id
  FUZZ_CHECK(fingerprint(order).size() == 16);
  check_traceparent(req);
  auto r = needs_node();
  r.headers.emplace_back("Location", "/orders/" + id);
  answer(std::move(r));
}

void list_orders(const request& req, const responder& answer) {
  const std::string instance = "/orders";
  const auto query = parse_query(req.query);
  if (!query) {
    return (void)answer(rejected(400, problem_type::invalid_request, "bad query", instance));
  }
  const auto customer = query->count("customer") ? query->at("customer") : "";
  if (!valid_id(customer)) {
    return (void)answer(rejected(400, problem_type::invalid_request, "bad customer", instance));
  }
  if (query->count("limit")) {
    const auto n = parse_count(query->at("limit"));
    if (!n || *n < 1 || *n > limits::max_page_size) {
      return (void)answer(rejected(400, problem_type::invalid_request, "bad limit", instance));
    }
  }
  if (query->count("cursor")) {
    const auto c = decode_cursor(query->at("cursor"));
    if (!c) {
      return (void)answer(rejected(400, problem_type::invalid_request, "bad cursor", instance));
    }
    // A cursor the server accepts is one it could have given out: it reads back the same.
    const auto again = decode_cursor(encode_cursor(*c));
    FUZZ_CHECK(again && again->placed_at_us == c->placed_at_us && again->order_id == c->order_id);
  }
  client_of(req);
  answer(needs_node());
}

void get_order(const request& req, const responder& answer) {
  const auto& id = req.params.at("id");
  if (!valid_id(id)) {
    return (void)answer(rejected(404, problem_type::not_found, "no order " + id, "/orders/" + id));
  }
  client_of(req);
  answer(needs_node());
}

void restock(const request& req, const responder& answer) {
  const auto& sku = req.params.at("sku");
  const std::string instance = "/inventory/" + sku + "/restock";
  if (!valid_id(sku)) {
    return (void)answer(rejected(400, problem_type::invalid_request, "bad sku", instance));
  }
  const auto key = req.header("Idempotency-Key");
  if (!key.empty() && !valid_idempotency_key(key)) {
    return (void)answer(rejected(400, problem_type::idempotency_key, "bad key", instance));
  }
  auto parsed = parse_restock(req.body);
  if (auto* p = std::get_if<problem_details>(&parsed)) {
    fuzz::check_body_problem(*p);
    p->instance = instance;
    return (void)answer(make_problem(*p));
  }
  FUZZ_CHECK(std::get<int64_t>(parsed) >= 1);
  if (!key.empty()) {
    order_id_for(client_of(req), key);
  }
  check_traceparent(req);
  answer(needs_node());
}

void get_inventory(const request& req, const responder& answer) {
  const auto& sku = req.params.at("sku");
  if (!valid_id(sku)) {
    return (void)answer(
        rejected(404, problem_type::not_found, "no SKU " + sku, "/inventory/" + sku));
  }
  client_of(req);
  answer(needs_node());
}

/// gateway_api::routes()'s `metered` for the API routes: a request that cannot be identified is
/// answered 401 with WWW-Authenticate and goes no further.
handler identified(handler h) {
  return [h = std::move(h)](const request& req, const responder& answer) {
    identify(proxied_identity, req);
    auto who = identify(identity, req);
    if (auto* p = std::get_if<problem_details>(&who)) {
      p->instance = req.path;
      auto r = make_problem(*p);
      r.headers.emplace_back("WWW-Authenticate", "Bearer");
      return (void)answer(std::move(r));
    }
    h(req, answer);
  };
}

/// gateway_api::routes() plus http_server's own /health/live, with the same methods, patterns
/// and body kinds.
route_table gateway_routes() {
  route_table t;
  const auto node_only = [](const request&, const responder& answer) { answer(needs_node()); };
  t.add("POST", "/orders", identified(post_order), body_kind::json);
  t.add("GET", "/orders", identified(list_orders));
  t.add("GET", "/orders/{id}", identified(get_order));
  t.add("POST", "/inventory/{sku}/restock", identified(restock), body_kind::json);
  t.add("GET", "/inventory/{sku}", identified(get_inventory));
  t.add("GET", "/health/ready", node_only);
  t.add("GET", "/metrics", node_only);
  t.add("GET", "/openapi.json", node_only);
  t.add("GET", "/health/live", [](const request&, const responder& answer) {
    answer(make_json(200, R"({"status":"live"})"));
  });
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
