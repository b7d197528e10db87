#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

namespace ordermesh::persistence {

/// The highest version of each stream that a writer of this process saw committed. Such a
/// (stream, version) stays in the log for good (the log is append-only and a stream's versions
/// have no gaps), so an append expecting that version, or a lower one, needs no look-up of its
/// predecessor: the unique index alone still refuses a stale one. Only ever says "known" for
/// what was committed, so forgetting is always safe: it forgets everything once it holds
/// max_streams streams. Thread-safe: a journal's writers share one.
class written_versions {
public:
  explicit written_versions(size_t max_streams = size_t{1} << 17) : max_streams_(max_streams) {}

  /// Whether version `version` of `stream` is known to be committed.
  bool known(const std::string& stream, int64_t version) const {
    std::lock_guard<std::mutex> lock{mutex_};
    auto it = highest_.find(stream);
    return it != highest_.end() && version <= it->second;
  }

  /// Version `version` of `stream` was committed.
  void record(const std::string& stream, int64_t version) {
    std::lock_guard<std::mutex> lock{mutex_};
    if (highest_.size() >= max_streams_ && highest_.count(stream) == 0) {
      highest_.clear();
    }
    auto& v = highest_[stream];
    v = std::max(v, version);
  }

private:
  size_t max_streams_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, int64_t> highest_;
};

} // namespace ordermesh::persistence
