#include "psp/service.hpp"

#include "psp/client/card_tokens.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <limits>
#include <mutex>
#include <optional>
#include <random>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <variant>

namespace ordermesh::psp {

namespace {

using json = nlohmann::json;

/// Longest latency or hang accepted at run time: keeps the arithmetic far from overflow.
constexpr int64_t max_millis = 3'600'000;
constexpr std::size_t max_key_length = 255;

std::string dump(const json& j) {
  // Invalid UTF-8 echoed from a request must not make the answer throw.
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

reply json_reply(unsigned status, const json& body) {
  reply r;
  r.status = status;
  r.body = dump(body);
  return r;
}

enum class auth_status { authorized, declined, voided, captured, refunded };

std::string_view name_of(auth_status s) {
  switch (s) {
    case auth_status::authorized:
      return "authorized";
    case auth_status::declined:
      return "declined";
    case auth_status::voided:
      return "voided";
    case auth_status::captured:
      return "captured";
    case auth_status::refunded:
      return "refunded";
  }
  return "unknown";
}

struct authorization {
  std::string id;
  /// The Idempotency-Key it was created with: what a void names it by.
  std::string key;
  int64_t amount_cents = 0;
  std::string currency;
  auth_status status = auth_status::authorized;
  std::string reason;
};

struct stored_reply {
  /// Method, path and canonical body of the first request with this key.
  std::string fingerprint;
  reply answer;
};

enum class route {
  none,
  health,
  authorizations,
  authorization,
  capture,
  refund,
  voids,
  sales,
  reversals,
  faults,
  stats
};

struct matched_route {
  route which = route::none;
  std::string id;
  /// The methods the route accepts, as written in Allow.
  std::string_view allow;
};

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> out;
  if (path.empty() || path.front() != '/') {
    return out;
  }
  path.remove_prefix(1);
  while (true) {
    const auto slash = path.find('/');
    out.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) {
      break;
    }
    path.remove_prefix(slash + 1);
  }
  return out;
}

matched_route match(std::string_view path) {
  if (path == "/health") {
    return {route::health, {}, "GET"};
  }
  if (path == "/admin/faults") {
    return {route::faults, {}, "GET, POST"};
  }
  if (path == "/admin/stats") {
    return {route::stats, {}, "GET"};
  }
  if (path == "/v1/voids") {
    return {route::voids, {}, "POST"};
  }
  if (path == "/v1/sales") {
    return {route::sales, {}, "POST"};
  }
  if (path == "/v1/reversals") {
    return {route::reversals, {}, "POST"};
  }
  const auto seg = split_path(path);
  if (seg.size() < 2 || seg.size() > 4 || seg[0] != "v1" || seg[1] != "authorizations" ||
      std::any_of(seg.begin(), seg.end(), [](std::string_view s) { return s.empty(); })) {
    return {};
  }
  if (seg.size() == 2) {
    return {route::authorizations, {}, "POST"};
  }
  const std::string id{seg[2]};
  if (seg.size() == 3) {
    return {route::authorization, id, "GET"};
  }
  if (seg[3] == "capture") {
    return {route::capture, id, "POST"};
  }
  if (seg[3] == "refund") {
    return {route::refund, id, "POST"};
  }
  return {};
}

bool allows(std::string_view allow, std::string_view method) {
  while (!allow.empty()) {
    const auto comma = allow.find(", ");
    if (allow.substr(0, comma) == method) {
      return true;
    }
    if (comma == std::string_view::npos) {
      break;
    }
    allow.remove_prefix(comma + 2);
  }
  return false;
}

// -- the test card tokens: every rule about card_token is here (psp/README.md lists them) ---------

reply malformed_json() {
  return problem(400, "malformed-json", "Malformed JSON", "the request body is not valid JSON");
}

reply invalid(const std::string& detail) {
  return problem(422, "invalid-request", "Invalid request", detail);
}

/// The body parsed as a JSON object, or the problem reply. An empty body is an empty object when
/// `empty_ok`.
std::variant<json, reply> object_body(const std::string& body, bool empty_ok) {
  if (empty_ok && body.find_first_not_of(" \t\r\n") == std::string::npos) {
    return json::object();
  }
  auto doc = json::parse(body, nullptr, false);
  if (doc.is_discarded()) {
    return malformed_json();
  }
  if (!doc.is_object()) {
    return invalid("the request body must be a JSON object");
  }
  return doc;
}

/// A JSON integer in [lo, hi], or the problem.
std::variant<int64_t, std::string> integer_field(const json& j, const std::string& name, int64_t lo,
                                                 int64_t hi) {
  const auto range =
      name + " must be an integer between " + std::to_string(lo) + " and " + std::to_string(hi);
  if (!j.is_number_integer()) {
    return range;
  }
  if (j.is_number_unsigned()) {
    const auto u = j.get<uint64_t>();
    if (u > static_cast<uint64_t>(hi) || static_cast<int64_t>(u) < lo) {
      return range;
    }
    return static_cast<int64_t>(u);
  }
  const auto n = j.get<int64_t>();
  if (n < lo || n > hi) {
    return range;
  }
  return n;
}

std::variant<double, std::string> rate_field(const json& j, const std::string& name) {
  const auto range = name + " must be a number between 0 and 1";
  if (!j.is_number()) {
    return range;
  }
  const auto x = j.get<double>();
  if (!(x >= 0.0 && x <= 1.0)) {
    return range;
  }
  return x;
}

json faults_json(const fault_settings& f) {
  return json{{"latency_ms", f.latency.count()}, {"latency_jitter_ms", f.latency_jitter.count()},
              {"failure_rate", f.failure_rate},  {"timeout_rate", f.timeout_rate},
              {"decline_rate", f.decline_rate},  {"hang_ms", f.hang.count()}};
}

json stats_json(const psp_stats& s) {
  return json{{"requests", s.requests},
              {"authorizations", s.authorizations},
              {"declines", s.declines},
              {"captures", s.captures},
              {"refunds", s.refunds},
              {"distinct_charges", s.distinct_charges},
              {"replays", s.replays},
              {"injected_failures", s.injected_failures},
              {"injected_timeouts", s.injected_timeouts},
              {"voids", s.voids},
              {"open_holds", s.open_holds},
              {"open_charges", s.open_charges}};
}

json authorization_json(const authorization& a) {
  json j{{"id", a.id},
         {"status", name_of(a.status)},
         {"amount_cents", a.amount_cents},
         {"currency", a.currency}};
  if (!a.reason.empty()) {
    j["reason"] = a.reason;
  }
  return j;
}

} // namespace

reply problem(unsigned status, const std::string& slug, const std::string& title,
              const std::string& detail) {
  reply r;
  r.status = status;
  r.content_type = "application/problem+json";
  r.body = dump(json{{"type", "urn:ordermesh:psp:" + slug},
                     {"title", title},
                     {"status", status},
                     {"detail", detail}});
  return r;
}

fault_settings faults_from(const config::psp_config& cfg) {
  fault_settings f;
  f.latency = cfg.latency;
  f.latency_jitter = cfg.latency_jitter;
  f.failure_rate = cfg.failure_rate;
  f.timeout_rate = cfg.timeout_rate;
  f.decline_rate = cfg.decline_rate;
  f.hang = cfg.hang;
  return f;
}

struct psp_service::impl {
  explicit impl(const config::psp_config& cfg)
      : faults(faults_from(cfg)), draws(cfg.seed), ids(std::random_device{}()) {}

  mutable std::mutex mutex;
  fault_settings faults;
  std::mt19937 draws;
  /// Ids differ from one run to the next, so a client holding an id from an earlier run of the
  /// stand-in gets 404 instead of someone else's authorization.
  std::mt19937_64 ids;
  psp_stats stats;
  // Hashed, not ordered: nothing lists them in order, and an ordered lookup of keys with a
  // long common prefix was the stand-in's largest cost under load (bench/orders profile).
  std::unordered_map<std::string, authorization> authorizations;
  std::unordered_map<std::string, stored_reply> idempotency;
  /// Authorization Idempotency-Key -> authorization id.
  std::unordered_map<std::string, std::string> by_key;
  /// Keys voided before any authorization was made with them: none ever will be.
  std::unordered_set<std::string> voided_keys;

  /// The counters, with the holds and charges still open counted now.
  psp_stats current_stats() const {
    auto out = stats;
    for (const auto& [id, a] : authorizations) {
      out.open_holds += a.status == auth_status::authorized ? 1 : 0;
      out.open_charges += a.status == auth_status::captured ? 1 : 0;
    }
    return out;
  }

  bool draw(double rate) {
    if (rate <= 0.0) {
      return false;
    }
    if (rate >= 1.0) {
      return true;
    }
    return std::uniform_real_distribution<double>{0.0, 1.0}(draws) < rate;
  }

  std::chrono::milliseconds latency() {
    auto d = faults.latency;
    if (faults.latency_jitter.count() > 0) {
      d += std::chrono::milliseconds{
          std::uniform_int_distribution<int64_t>{0, faults.latency_jitter.count()}(draws)};
    }
    return d;
  }

  std::string new_id() {
    static constexpr char hex[] = "0123456789abcdef";
    std::string id = "auth_";
    for (int i = 0; i < 2; ++i) {
      auto bits = ids();
      for (int j = 0; j < 12; ++j) {
        id += hex[bits & 0xf];
        bits >>= 4;
      }
    }
    return id;
  }

  plan handle(const request_view& req) {
    ++stats.requests;
    const std::string_view target{req.target};
    const auto path = target.substr(0, target.find('?'));
    const auto m = match(path);
    if (m.which == route::none) {
      return {problem(404, "not-found", "Not Found",
                      "no such resource; see psp/README.md for the endpoints"),
              {},
              false};
    }
    if (!allows(m.allow, req.method)) {
      auto r = problem(405, "method-not-allowed", "Method Not Allowed",
                       "this resource accepts " + std::string{m.allow});
      r.headers.emplace_back("Allow", std::string{m.allow});
      return {std::move(r), {}, false};
    }
    switch (m.which) {
      case route::health:
        return {json_reply(200, json{{"status", "ok"}}), {}, false};
      case route::stats:
        return {json_reply(200, stats_json(current_stats())), {}, false};
      case route::faults:
        return {req.method == "GET" ? json_reply(200, faults_json(faults))
                                    : change_faults(req.body),
                {},
                false};
      default:
        break;
    }
    return handle_payment(req, m, path);
  }

  plan handle_payment(const request_view& req, const matched_route& m, std::string_view path) {
    plan p;
    p.delay = latency();
    if (draw(faults.failure_rate)) {
      ++stats.injected_failures;
      p.answer = problem(503, "injected-failure", "Service Unavailable",
                         "failure injected by psp.failure_rate; nothing was done");
      p.answer.headers.emplace_back("Retry-After", "1");
      return p;
    }
    if (draw(faults.timeout_rate)) {
      // Carried out, then the answer is lost: the case that makes idempotency keys necessary.
      ++stats.injected_timeouts;
      p.hang = true;
      p.delay = faults.hang;
    }
    if (m.which == route::authorization) {
      const auto it = authorizations.find(m.id);
      p.answer = it == authorizations.end() ? unknown(m.id)
                                            : json_reply(200, authorization_json(it->second));
      return p;
    }
    p.answer = with_idempotency(req, path, m);
    return p;
  }

  reply with_idempotency(const request_view& req, std::string_view path, const matched_route& m) {
    if (!req.idempotency_key || req.idempotency_key->empty()) {
      return problem(400, "idempotency-key-missing", "Idempotency-Key required",
                     "POST requests need an Idempotency-Key header");
    }
    const auto& key = *req.idempotency_key;
    if (key.size() > max_key_length) {
      return problem(400, "idempotency-key-invalid", "Idempotency-Key too long",
                     "an Idempotency-Key has at most " + std::to_string(max_key_length) +
                         " characters");
    }
    const auto parsed = json::parse(req.body, nullptr, false);
    const auto canonical = parsed.is_discarded() ? req.body : dump(parsed);
    auto fingerprint = req.method + " " + std::string{path} + "\n" + canonical;
    if (const auto it = idempotency.find(key); it != idempotency.end()) {
      if (it->second.fingerprint != fingerprint) {
        return problem(422, "idempotency-key-reused", "Idempotency-Key reused",
                       "this Idempotency-Key was first used with a different request");
      }
      ++stats.replays;
      auto r = it->second.answer;
      r.headers.emplace_back("Idempotent-Replayed", "true");
      return r;
    }
    reply r;
    if (m.which == route::authorizations || m.which == route::sales) {
      r = authorize(req.body, key, m.which == route::sales);
    } else if (m.which == route::voids) {
      r = void_by_key(req.body, false);
    } else if (m.which == route::reversals) {
      r = void_by_key(req.body, true);
    } else {
      r = change_state(req.body, m);
    }
    // Only what was decided is remembered: a retry after 404, 409 or 422 is asked afresh.
    if ((r.status >= 200 && r.status < 300) || r.status == 402) {
      idempotency.emplace(key, stored_reply{std::move(fingerprint), r});
    }
    return r;
  }

  static reply unknown(const std::string& id) {
    return problem(404, "unknown-authorization", "Unknown authorization",
                   "there is no authorization " + id);
  }

  /// POST /v1/authorizations, or POST /v1/sales (`sale`): authorized and captured in one step.
  reply authorize(const std::string& body, const std::string& key, bool sale) {
    auto doc_or = object_body(body, false);
    if (auto* r = std::get_if<reply>(&doc_or)) {
      return std::move(*r);
    }
    const auto& doc = std::get<json>(doc_or);
    for (const char* field : {"amount_cents", "currency", "card_token"}) {
      if (!doc.contains(field)) {
        return invalid(std::string{field} + " is required");
      }
    }
    const auto amount =
        integer_field(doc["amount_cents"], "amount_cents", 1, std::numeric_limits<int64_t>::max());
    if (const auto* problem_text = std::get_if<std::string>(&amount)) {
      return invalid(*problem_text);
    }
    const auto& currency = doc["currency"];
    if (!currency.is_string() || currency.get<std::string>().size() != 3 ||
        !std::all_of(currency.get_ref<const std::string&>().begin(),
                     currency.get_ref<const std::string&>().end(),
                     [](char c) { return c >= 'A' && c <= 'Z'; })) {
      return invalid("currency must be an ISO 4217 code such as \"EUR\"");
    }
    const auto& token = doc["card_token"];
    if (!token.is_string() || !accepts_card_token(token.get_ref<const std::string&>())) {
      return invalid(std::string{card_token_rule});
    }
    if (voided_keys.count(key) != 0) {
      return problem(409, "authorization-voided", "Conflict",
                     "an authorization with this Idempotency-Key was voided before it arrived");
    }
    authorization a;
    a.id = new_id();
    a.key = key;
    a.amount_cents = std::get<int64_t>(amount);
    a.currency = currency.get<std::string>();
    const bool token_declines =
        outcome_of(token.get_ref<const std::string&>()) == card_outcome::declined;
    const bool decline = token_declines || draw(faults.decline_rate);
    if (decline) {
      a.status = auth_status::declined;
      a.reason = "insufficient_funds";
      ++stats.declines;
    } else {
      ++stats.authorizations;
      if (sale) {
        a.status = auth_status::captured;
        ++stats.captures;
        ++stats.distinct_charges;
      }
    }
    auto r = decline
                 ? json_reply(402, json{{"id", a.id}, {"status", "declined"}, {"reason", a.reason}})
                 : json_reply(201, json{{"id", a.id}, {"status", name_of(a.status)}});
    by_key.emplace(a.key, a.id);
    authorizations.emplace(a.id, std::move(a));
    return r;
  }

  /// POST /v1/voids {"authorization_key": k}: releases the hold of the authorization created with
  /// Idempotency-Key k. If none was created yet, k is marked so that none ever will be (the
  /// authorize request may still be on its way): either way nothing is held for k afterwards.
  /// POST /v1/reversals (`reverse`) does the same and also refunds a captured one (a sale): nothing
  /// is held or charged for k afterwards.
  reply void_by_key(const std::string& body, bool reverse) {
    auto doc_or = object_body(body, false);
    if (auto* r = std::get_if<reply>(&doc_or)) {
      return std::move(*r);
    }
    const auto& doc = std::get<json>(doc_or);
    const auto field = doc.find("authorization_key");
    if (field == doc.end() || !field->is_string() || field->get_ref<const std::string&>().empty() ||
        field->get_ref<const std::string&>().size() > max_key_length) {
      return invalid("authorization_key must be the Idempotency-Key of an authorization "
                     "(1 to 255 characters)");
    }
    const auto& key = field->get_ref<const std::string&>();
    const auto found = by_key.find(key);
    if (found == by_key.end()) {
      voided_keys.insert(key);
      return json_reply(200, json{{"authorization_key", key}, {"status", "voided"}});
    }
    auto& a = authorizations.at(found->second);
    if (a.status == auth_status::authorized) {
      a.status = auth_status::voided;
      ++stats.voids;
    } else if (reverse && a.status == auth_status::captured) {
      a.status = auth_status::refunded;
      ++stats.refunds;
    } else if (!reverse &&
               (a.status == auth_status::captured || a.status == auth_status::refunded)) {
      return problem(409, "invalid-state", "Conflict",
                     "authorization " + a.id + " is " + std::string{name_of(a.status)} +
                         "; refund it instead");
    }
    // Declined or voided already: nothing is held.
    return json_reply(
        200, json{{"id", a.id}, {"authorization_key", key}, {"status", name_of(a.status)}});
  }

  /// Capture or refund. Repeating one that already happened answers the same (idempotent by
  /// state, whatever the key); any other order is 409.
  reply change_state(const std::string& body, const matched_route& m) {
    auto doc_or = object_body(body, true);
    if (auto* r = std::get_if<reply>(&doc_or)) {
      return std::move(*r);
    }
    const auto it = authorizations.find(m.id);
    if (it == authorizations.end()) {
      return unknown(m.id);
    }
    auto& a = it->second;
    const bool capture = m.which == route::capture;
    const auto from = capture ? auth_status::authorized : auth_status::captured;
    const auto to = capture ? auth_status::captured : auth_status::refunded;
    if (a.status == from) {
      a.status = to;
      if (capture) {
        ++stats.captures;
        ++stats.distinct_charges;
      } else {
        ++stats.refunds;
      }
    } else if (a.status != to) {
      return problem(409, "invalid-state", "Conflict",
                     std::string{"authorization "} + a.id + " is " +
                         std::string{name_of(a.status)} + "; " +
                         (capture ? "only an authorized one can be captured"
                                  : "only a captured one can be refunded"));
    }
    return json_reply(200, json{{"id", a.id}, {"status", name_of(to)}});
  }

  reply change_faults(const std::string& body) {
    auto doc_or = object_body(body, false);
    if (auto* r = std::get_if<reply>(&doc_or)) {
      return std::move(*r);
    }
    auto next = faults;
    std::optional<uint32_t> seed;
    for (const auto& [name, value] : std::get<json>(doc_or).items()) {
      std::variant<int64_t, std::string> n{int64_t{0}};
      std::variant<double, std::string> x{0.0};
      if (name == "latency_ms" || name == "latency_jitter_ms" || name == "hang_ms") {
        n = integer_field(value, name, name == "hang_ms" ? 1 : 0, max_millis);
        if (const auto* p = std::get_if<std::string>(&n)) {
          return invalid(*p);
        }
        const std::chrono::milliseconds ms{std::get<int64_t>(n)};
        (name == "latency_ms" ? next.latency
         : name == "hang_ms"  ? next.hang
                              : next.latency_jitter) = ms;
      } else if (name == "failure_rate" || name == "timeout_rate" || name == "decline_rate") {
        x = rate_field(value, name);
        if (const auto* p = std::get_if<std::string>(&x)) {
          return invalid(*p);
        }
        (name == "failure_rate"   ? next.failure_rate
         : name == "timeout_rate" ? next.timeout_rate
                                  : next.decline_rate) = std::get<double>(x);
      } else if (name == "seed") {
        n = integer_field(value, name, 0, std::numeric_limits<uint32_t>::max());
        if (const auto* p = std::get_if<std::string>(&n)) {
          return invalid(*p);
        }
        seed = static_cast<uint32_t>(std::get<int64_t>(n));
      } else {
        return invalid("unknown field " + name +
                       "; known: latency_ms, latency_jitter_ms, "
                       "failure_rate, timeout_rate, decline_rate, "
                       "hang_ms, seed");
      }
    }
    faults = next;
    if (seed) {
      draws.seed(*seed);
    }
    return json_reply(200, faults_json(faults));
  }
};

psp_service::psp_service(const config::psp_config& cfg) : impl_(std::make_unique<impl>(cfg)) {}

psp_service::~psp_service() = default;

plan psp_service::handle(const request_view& req) {
  std::lock_guard<std::mutex> lock{impl_->mutex};
  return impl_->handle(req);
}

psp_stats psp_service::stats() const {
  std::lock_guard<std::mutex> lock{impl_->mutex};
  return impl_->current_stats();
}

fault_settings psp_service::faults() const {
  std::lock_guard<std::mutex> lock{impl_->mutex};
  return impl_->faults;
}

void psp_service::set_faults(const fault_settings& faults) {
  std::lock_guard<std::mutex> lock{impl_->mutex};
  impl_->faults = faults;
}

} // namespace ordermesh::psp
