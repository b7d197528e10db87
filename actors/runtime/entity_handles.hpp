#pragma once

#include "actors/common/envelope.hpp"

#include <caf/actor.hpp>
#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/message.hpp>
#include <caf/response_promise.hpp>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace ordermesh::actors::runtime {

/// The running entities of one host by id, so that callers (route(), the gateway) send a command
/// straight to its entity instead of through the host (two messages and a hop through the one
/// actor all entities of a kind share). Written by the host alone: an entity is listed from its
/// start until it passivates or ends. Read from any thread. A listed handle may already be dead
/// (its down message on the way): a command sent to it comes back request_receiver_down, and the
/// caller then goes through the host, which keeps it for the next incarnation. Commands an entity
/// took directly and had not answered when it ended are handed to its host (take_back_atom).
class entity_handles {
public:
  /// The table of `host`, or null (a host that has none, e.g. a stand-in in tests).
  static std::shared_ptr<entity_handles> of(const caf::actor& host);

  /// Lists `table` as the one of `host` until forget_host.
  static void register_host(const caf::actor& host, std::shared_ptr<entity_handles> table);
  static void forget_host(const caf::actor_addr& host);

  /// The running entity `id`, or an invalid handle.
  caf::actor find(const std::string& id) const {
    std::lock_guard<std::mutex> lock{mutex_};
    auto i = running_.find(id);
    return i == running_.end() ? caf::actor{} : i->second;
  }

  void put(const std::string& id, caf::actor handle) {
    std::lock_guard<std::mutex> lock{mutex_};
    running_[id] = std::move(handle);
  }

  /// Removes `id` if it is still listed with `handle` (not a later incarnation).
  void erase(const std::string& id, const caf::actor_addr& handle) {
    std::lock_guard<std::mutex> lock{mutex_};
    auto i = running_.find(id);
    if (i != running_.end() && i->second.address() == handle) {
      running_.erase(i);
    }
  }

  void clear() {
    std::lock_guard<std::mutex> lock{mutex_};
    running_.clear();
  }

  /// Commands sent straight to entities and not answered yet (the host's waiting count adds
  /// them: it does not see them).
  std::atomic<uint64_t> direct_in_flight{0};

private:
  mutable std::mutex mutex_;
  std::unordered_map<std::string, caf::actor> running_;
};

/// A command an entity took straight from a caller and had not answered when it ended.
struct returned_command {
  caf::response_promise promise;
  envelope env;
  caf::message command;
};

/// What an ending entity hands to its host (take_back_atom, id, returned_commands_ptr): the host
/// gives them to the next incarnation like the commands it had handed on itself. Whatever
/// nobody took (the host ended too) is answered request_receiver_down when this is destroyed,
/// so that no caller waits forever.
struct returned_commands {
  std::vector<returned_command> commands;

  returned_commands() = default;
  returned_commands(const returned_commands&) = delete;
  returned_commands& operator=(const returned_commands&) = delete;
  ~returned_commands();
};

using returned_commands_ptr = std::shared_ptr<returned_commands>;

} // namespace ordermesh::actors::runtime

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(ordermesh::actors::runtime::returned_commands_ptr)
