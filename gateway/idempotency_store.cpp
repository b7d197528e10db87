#include "gateway/idempotency_store.hpp"

#include <nlohmann/json.hpp>

namespace ordermesh::gateway {

using nlohmann::json;

idempotency_store::idempotency_store(config::redis_config redis, std::chrono::milliseconds ttl)
    : ttl_(ttl), client_(std::move(redis)) {}

std::string idempotency_store::redis_key(const std::string& client, const std::string& key) const {
  // Length-prefixed so that no (client, key) pair can spell another's.
  return "om:idem:" + std::to_string(client.size()) + ":" + client + ":" + key;
}

std::optional<first_answer> idempotency_store::lookup(const std::string& client,
                                                      const std::string& key) {
  lookups_.fetch_add(1, std::memory_order_relaxed);
  cache::cache_result<std::optional<std::string>> stored = [&] {
    std::lock_guard<std::mutex> lock{mutex_};
    return client_.get(redis_key(client, key));
  }();
  if (!stored || !*stored) {
    return std::nullopt;
  }
  auto doc = json::parse(**stored, nullptr, false);
  if (!doc.is_object()) {
    return std::nullopt;
  }
  try {
    first_answer out;
    out.fingerprint = doc.at("fingerprint").get<std::string>();
    out.answer.status = doc.at("status").get<unsigned>();
    out.answer.content_type = doc.at("content_type").get<std::string>();
    out.answer.body = doc.at("body").get<std::string>();
    for (const auto& h : doc.at("headers")) {
      out.answer.headers.emplace_back(h.at(0).get<std::string>(), h.at(1).get<std::string>());
    }
    return out;
  } catch (const json::exception&) {
    return std::nullopt; // a record this build does not understand: ask the journal instead
  }
}

void idempotency_store::remember(const std::string& client, const std::string& key,
                                 const std::string& fingerprint, const response& answer) {
  remembers_.fetch_add(1, std::memory_order_relaxed);
  json headers = json::array();
  for (const auto& [name, value] : answer.headers) {
    headers.push_back({name, value});
  }
  json doc{{"fingerprint", fingerprint},
           {"status", answer.status},
           {"content_type", answer.content_type},
           {"headers", std::move(headers)},
           {"body", answer.body}};
  std::lock_guard<std::mutex> lock{mutex_};
  (void)client_.command(
      {"SET", redis_key(client, key), doc.dump(), "PX", std::to_string(ttl_.count()), "NX"});
}

} // namespace ordermesh::gateway
