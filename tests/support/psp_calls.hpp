#pragma once

#include "psp/client/client.hpp"

#include <chrono>
#include <cstdint>
#include <future>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>

namespace ordermesh::testing {

/// Makes `call` on `client` and waits for its outcome; throws std::runtime_error (failing the
/// test) if none comes within `limit`.
inline psp::psp_outcome call_and_wait(psp::psp_async_client& client, psp::psp_call call,
                                      std::chrono::milliseconds limit = std::chrono::seconds{30}) {
  auto outcome = std::make_shared<std::promise<psp::psp_outcome>>();
  client.call(std::move(call), [outcome](psp::psp_outcome o) { outcome->set_value(std::move(o)); });
  auto answered = outcome->get_future();
  if (answered.wait_for(limit) != std::future_status::ready) {
    throw std::runtime_error("the PSP client gave no outcome in time");
  }
  return answered.get();
}

/// POST /v1/authorizations of `amount_cents` EUR on `card_token`, under Idempotency-Key `key`.
inline psp::psp_call authorize_call(int64_t amount_cents, std::string card_token, std::string key) {
  psp::psp_call c;
  c.operation = psp::psp_operation::authorize;
  c.idempotency_key = std::move(key);
  c.amount_cents = amount_cents;
  c.card_token = std::move(card_token);
  return c;
}

/// POST /v1/sales, like authorize_call.
inline psp::psp_call sale_call(int64_t amount_cents, std::string card_token, std::string key) {
  auto c = authorize_call(amount_cents, std::move(card_token), std::move(key));
  c.operation = psp::psp_operation::sale;
  return c;
}

/// `operation` (capture, refund: of the authorization `authorization`; void_authorization,
/// reverse: of the one made with Idempotency-Key `authorization`) under Idempotency-Key `key`.
inline psp::psp_call call_on(psp::psp_operation operation, std::string authorization,
                             std::string key) {
  psp::psp_call c;
  c.operation = operation;
  c.idempotency_key = std::move(key);
  c.authorization = std::move(authorization);
  return c;
}

} // namespace ordermesh::testing
