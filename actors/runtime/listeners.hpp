#pragma once

#include <caf/actor.hpp>
#include <caf/message.hpp>
#include <caf/send.hpp>

#include <algorithm>
#include <mutex>
#include <vector>

namespace ordermesh::actors::runtime {

/// Actors that want to hear of something the node's entities did (e.g. orders that ended).
/// Added and removed from any thread; an entity tells them from its own.
class listeners {
public:
  void add(caf::actor listener) {
    std::lock_guard<std::mutex> lock{mutex_};
    actors_.push_back(std::move(listener));
  }

  void remove(const caf::actor& listener) {
    std::lock_guard<std::mutex> lock{mutex_};
    actors_.erase(std::remove(actors_.begin(), actors_.end(), listener), actors_.end());
  }

  /// Sends `msg` to every listener (fire and forget: nobody answers).
  void tell(const caf::message& msg) const {
    std::lock_guard<std::mutex> lock{mutex_};
    for (const auto& a : actors_) {
      caf::anon_send(a, msg);
    }
  }

private:
  mutable std::mutex mutex_;
  std::vector<caf::actor> actors_;
};

} // namespace ordermesh::actors::runtime
