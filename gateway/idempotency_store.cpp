#include "gateway/idempotency_store.hpp"

#include <nlohmann/json.hpp>

namespace ordermesh::gateway {

using nlohmann::json;

idempotency_store::idempotency_store(config::redis_config redis, drain_poster post_drain,
                                     std::chrono::milliseconds ttl, size_t max_queued)
    : ttl_(ttl), max_queued_(max_queued), post_drain_(std::move(post_drain)),
      client_(std::move(redis)) {}

idempotency_store::calls idempotency_store::stats() const {
  return {lookups_.load(),    remembers_.load(), round_trips_.load(),
          queue_full_.load(), no_worker_.load(), redis_errors_.load()};
}

std::string idempotency_store::redis_key(const std::string& client, const std::string& key) const {
  // Length-prefixed so that no (client, key) pair can spell another's.
  return "om:idem:" + std::to_string(client.size()) + ":" + client + ":" + key;
}

std::optional<first_answer> idempotency_store::lookup(const std::string& client,
                                                      const std::string& key) {
  lookups_.fetch_add(1, std::memory_order_relaxed);
  cache::cache_result<std::optional<std::string>> stored = [&] {
    std::lock_guard<std::mutex> lock{client_mutex_};
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
                                 const std::string& fingerprint, response answer) {
  {
    std::lock_guard<std::mutex> lock{queue_mutex_};
    if (queued_.size() >= max_queued_) {
      queue_full_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    queued_.push_back({client, key, fingerprint, std::move(answer)});
    if (draining_) {
      return; // the drain under way takes it with the next batch
    }
    draining_ = true;
  }
  post_or_drop();
}

void idempotency_store::post_or_drop() {
  if (post_drain_([this] { drain(); })) {
    return;
  }
  // No drain will run: what queued since is dropped too, and the next record posts again.
  std::lock_guard<std::mutex> lock{queue_mutex_};
  no_worker_.fetch_add(queued_.size(), std::memory_order_relaxed);
  queued_.clear();
  draining_ = false;
}

void idempotency_store::drain() {
  std::vector<record> batch;
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
  // Records keep coming: the worker goes back to the pool's queue (reads waiting there get their
  // turn) and a new drain takes the rest after them.
  post_or_drop();
}

void idempotency_store::write(const std::vector<record>& batch) {
  std::vector<std::vector<std::string>> sets;
  sets.reserve(batch.size());
  const auto px = std::to_string(ttl_.count());
  for (const auto& r : batch) {
    json headers = json::array();
    for (const auto& [name, value] : r.answer.headers) {
      headers.push_back({name, value});
    }
    json doc{{"fingerprint", r.fingerprint},
             {"status", r.answer.status},
             {"content_type", r.answer.content_type},
             {"headers", std::move(headers)},
             {"body", r.answer.body}};
    sets.push_back({"SET", redis_key(r.client, r.key), doc.dump(), "PX", px, "NX"});
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
  if (answered > 0) {
    round_trips_.fetch_add(1, std::memory_order_relaxed);
  }
  remembers_.fetch_add(answered, std::memory_order_relaxed);
  redis_errors_.fetch_add(replies.size() - answered, std::memory_order_relaxed);
}

} // namespace ordermesh::gateway
