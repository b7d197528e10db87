#pragma once

// How a caller reaches an entity by kind and id. Includes CAF: actor code only.

#include "actors/common/envelope.hpp"
#include "actors/runtime/entity_handles.hpp"
#include "actors/runtime/messages.hpp"

#include <caf/all.hpp>

#include <memory>
#include <string>

namespace ordermesh::actors::runtime {

/// Sends `command` for entity `id` behind `host` from `self` and hands the entity's answer to
/// `on_reply(Reply&)` (the aggregate's reply type) or `on_error(caf::error&)`. A running entity
/// (listed in the host's entity_handles) gets it directly; one that is not running, or that ended
/// before taking it (request_receiver_down), gets it through the host, which activates, keeps or
/// restarts it. The entity deduplicates by the envelope's message id, and hands what it took and
/// did not answer to the host when it ends, so the command is answered once and executed at most
/// once. `timeout` (caf::infinite for none) applies to each of the two legs.
template <class Reply, class OnReply, class OnError>
void send_command(caf::event_based_actor* self, const caf::actor& host, const std::string& id,
                  caf::duration timeout, envelope env, caf::message command, OnReply on_reply,
                  OnError on_error) {
  auto via_host = [=](envelope e, caf::message c) mutable {
    self->request(host, timeout, route_atom::value, id, std::move(e), std::move(c))
        .then([=](Reply& reply) mutable { on_reply(reply); },
              [=](caf::error& err) mutable { on_error(err); });
  };
  auto table = entity_handles::of(host);
  auto target = table ? table->find(id) : caf::actor{};
  if (!target) {
    via_host(std::move(env), std::move(command));
    return;
  }
  // Counted while either handler lives: CAF drops both after the answer, or with the caller if
  // it ends first (then neither runs).
  table->direct_in_flight += 1;
  auto counted = std::shared_ptr<void>(nullptr, [table](void*) { table->direct_in_flight -= 1; });
  self->request(target, timeout, deliver_atom::value, env, command)
      .then([=](Reply& reply) mutable { on_reply(reply); },
            [=](caf::error& err) mutable {
              (void)counted;
              if (err == caf::sec::request_receiver_down) {
                // It ended before taking the command (its host has not seen it go yet, or it
                // passivated): the host keeps it for the next incarnation.
                via_host(env, command);
              } else {
                on_error(err);
              }
            });
}

} // namespace ordermesh::actors::runtime
