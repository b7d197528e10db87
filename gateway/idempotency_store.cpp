#include "gateway/idempotency_store.hpp"

#include <nlohmann/json.hpp>

namespace ordermesh::gateway {

using nlohmann::json;

idempotency_store::idempotency_store(config::redis_config redis, drain_poster post_drain,
                                     std::chrono::milliseconds ttl, size_t max_queued)
    : ttl_(ttl), max_queued_(max_queued), post_drain_(std::move(post_drain)),
      client_(std::move(redis)) {}

idempotency_store::calls idempotency_store::stats() const {
  return {lookups_.load(),    remembers_.load(),  round_trips_.load(),
          queue_full_.load(), not_posted_.load(), redis_errors_.load()};
}

std::string idempotency_store::redis_key(const std::string& client, const std::string& key) const {
  // Length-prefixed so that no (client, key) pair can spell another's.
  return "om:idem:" + std::to_string(client.size()) + ":" + client + ":" + key;
}

std::optional<first_answer> idempotency_store::lookup(const std::string& client,
                                                      const std::string& key) {
  lookups_.fetch_add(1, std::memory_order_relaxed);
  const auto redis_key_of_it = redis_key(client, key);
  {
    // Queued or on its way to Redis: that record is the first answer (a retry that comes while
    // it is being written must not miss it).
    std::lock_guard<std::mutex> lock{queue_mutex_};
    if (auto it = unwritten_.find(redis_key_of_it); it != unwritten_.end()) {
      return *it->second;
    }
  }
  cache::cache_result<std::optional<std::string>> stored = [&] {
    std::lock_guard<std::mutex> lock{client_mutex_};
    return client_.get(redis_key_of_it);
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
                                 const std::string& fingerprint, response answer) {
  {
    std::lock_guard<std::mutex> lock{queue_mutex_};
    if (queued_.size() >= max_queued_) {
      queue_full_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    auto k = redis_key(client, key);
    auto first = std::make_shared<const first_answer>(first_answer{fingerprint, std::move(answer)});
    if (!unwritten_.try_emplace(k, first).second) {
      return; // one for this key is on its way already, and the first one wins (SET NX)
    }
    queued_.push_back({std::move(k), std::move(first)});
    if (draining_) {
      return; // the drain under way takes it with the next batch
    }
    draining_ = true;
  }
  if (post_drain_([this] { drain(); })) {
    return;
  }
  // No drain will run: what queued since is dropped too, and the next record posts again.
  std::lock_guard<std::mutex> lock{queue_mutex_};
  not_posted_.fetch_add(queued_.size(), std::memory_order_relaxed);
  for (const auto& r : queued_) {
    unwritten_.erase(r.redis_key);
  }
  queued_.clear();
  draining_ = false;
}

void idempotency_store::drain() {
  std::vector<record> batch;
  for (;;) {
    for (int round = 0; round < batches_per_drain; ++round) {
      batch.clear();
      {
        std::lock_guard<std::mutex> lock{queue_mutex_};
        if (queued_.empty()) {
          draining_ = false;
          return;
        }
        batch.swap(queued_);
      }
      write(batch);
    }
    // Records keep coming: the worker goes back to the pool's queue (reads waiting there get
    // their turn) and a new drain takes the rest after them; if the pool takes no task now (its
    // queue full, or stopping), this one goes on.
    if (post_drain_([this] { drain(); })) {
      return;
    }
  }
}

void idempotency_store::write(const std::vector<record>& batch) {
  std::vector<std::vector<std::string>> sets;
  sets.reserve(batch.size());
  const auto px = std::to_string(ttl_.count());
  for (const auto& r : batch) {
    const auto& answer = r.first->answer;
    json headers = json::array();
    for (const auto& [name, value] : answer.headers) {
      headers.push_back({name, value});
    }
    json doc{{"fingerprint", r.first->fingerprint},
             {"status", answer.status},
             {"content_type", answer.content_type},
             {"headers", std::move(headers)},
             {"body", answer.body}};
    sets.push_back({"SET", r.redis_key, doc.dump(), "PX", px, "NX"});
  }
  std::vector<cache::cache_result<cache::redis_reply>> replies;
  {
    std::lock_guard<std::mutex> lock{client_mutex_};
    replies = client_.pipeline(sets);
  }
  uint64_t answered = 0;
  for (const auto& reply : replies) {
    answered += reply ? 1 : 0;
  }
  {
    // Written (or lost with a Redis failure): lookup() asks Redis from now on.
    std::lock_guard<std::mutex> lock{queue_mutex_};
    for (const auto& r : batch) {
      unwritten_.erase(r.redis_key);
    }
  }
  if (answered > 0) {
    round_trips_.fetch_add(1, std::memory_order_relaxed);
  }
  remembers_.fetch_add(answered, std::memory_order_relaxed);
  redis_errors_.fetch_add(replies.size() - answered, std::memory_order_relaxed);
}

} // namespace ordermesh::gateway
