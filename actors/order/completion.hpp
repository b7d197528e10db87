#pragma once

#include "actors/order/messages.hpp"

#include <string>

namespace ordermesh::actors::order {

/// An order reached its terminal state (confirmed, rejected or cancelled) and that event is
/// durable. The order entity sends it once, right after the commit, to the node's completion
/// listeners (runtime::directory::order_completions), e.g. the gateway answering a
/// POST /orders?wait request. Not a record: a listener that missed it (a crash, a late
/// subscriber) learns the end from the read model instead; hearing it twice is harmless.
struct order_completed {
  std::string order_id;
  order_status status = order_status::none;
  /// Why it was rejected or cancelled; empty when confirmed.
  std::string reason;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, order_completed& x) {
  return f(x.order_id, x.status, x.reason);
}

} // namespace ordermesh::actors::order
