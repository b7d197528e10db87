#pragma once

#include <caf/all.hpp>

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

namespace ordermesh::actors::runtime {

/// The numbered self-messages an actor has on their way to wake it (an entity's ticks, a host's
/// deadline sweeps). A delayed send cannot be cancelled in CAF 0.17: each wake-up serves whatever
/// it comes early enough for, and one already on its way is reused instead of arming another.
class wakeups {
public:
  /// Makes sure `Atom` comes to `self` no later than `at` + `late`: arms a new wake-up due at
  /// `at` (delayed_send of (Atom, its number)) unless one on its way already comes by then.
  template <class Atom, class Actor>
  void arm_by(Actor* self, caf::actor_clock::time_point at, caf::timespan late) {
    for (const auto& armed : armed_) {
      if (armed.second <= at + late) {
        return;
      }
    }
    armed_.emplace_back(++seq_, at);
    self->delayed_send(self, std::max<caf::timespan>(at - self->clock().now(), caf::timespan{0}),
                       Atom::value, seq_);
  }

  /// Wake-up `seq` came: it is no longer on its way.
  void arrived(uint64_t seq) {
    armed_.erase(std::remove_if(armed_.begin(), armed_.end(),
                                [seq](const auto& a) { return a.first == seq; }),
                 armed_.end());
  }

  /// How many are on their way.
  size_t size() const { return armed_.size(); }

private:
  uint64_t seq_ = 0;
  /// (number, when due), in the order they were armed.
  std::vector<std::pair<uint64_t, caf::actor_clock::time_point>> armed_;
};

} // namespace ordermesh::actors::runtime
