#pragma once

#include <caf/actor.hpp>
#include <caf/actor_cast.hpp>

#include <memory>
#include <mutex>
#include <utility>

namespace ordermesh::actors::runtime {

/// The incarnation of a supervised component that runs now, published by its supervisor
/// (actors/system.cpp): set when it starts one, cleared once it saw it end. Thread-safe.
class incarnation_slot {
public:
  void set(caf::actor current) {
    std::lock_guard<std::mutex> lock{mutex_};
    current_ = std::move(current);
  }

  void clear() { set(caf::actor{}); }

  /// The incarnation running now; invalid while none does.
  caf::actor get() const {
    std::lock_guard<std::mutex> lock{mutex_};
    return current_;
  }

private:
  mutable std::mutex mutex_;
  caf::actor current_;
};

/// Where a hot path sends to a supervised component (the journal writer, the PSP gateway): to
/// the incarnation that runs now, directly, so that each request costs two messages instead of
/// four through the supervisor; while none runs, to the supervisor, which answers at once. The
/// component answers what it holds when it ends (outcome unknown), and CAF bounces what is still
/// in its mailbox (sec::request_receiver_down: never handled). Cheap to copy.
template <class Handle>
class supervised {
public:
  supervised() = default;

  /// A component without a supervisor (tests, tools): everything goes to `fixed`.
  supervised(Handle fixed) : stable_(std::move(fixed)) {} // NOLINT: implicit on purpose

  /// The supervisor's stable handle and the slot it publishes its incarnations in.
  supervised(Handle supervisor, std::shared_ptr<const incarnation_slot> current)
      : stable_(std::move(supervisor)), current_(std::move(current)) {}

  /// The incarnation that runs now, else the stable handle.
  Handle route() const {
    if (current_) {
      if (auto running = current_->get()) {
        return caf::actor_cast<Handle>(std::move(running));
      }
    }
    return stable_;
  }

  /// The supervisor (or the fixed component): for what must outlive incarnations, e.g. stats
  /// summed over all of them.
  const Handle& stable() const { return stable_; }

private:
  Handle stable_;
  std::shared_ptr<const incarnation_slot> current_;
};

} // namespace ordermesh::actors::runtime
