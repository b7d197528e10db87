#include "gateway/command_errors.hpp"

#include "actors/inventory/errors.hpp"
#include "actors/order/errors.hpp"
#include "gateway/order_request.hpp"

#include <caf/sec.hpp>

namespace ordermesh::gateway {

namespace {

using actors::runtime::entity_errc;

response with_retry_after(problem_details p, const std::string& instance, int seconds) {
  p.instance = instance;
  auto r = make_problem(p);
  r.headers.emplace_back("Retry-After", std::to_string(seconds));
  return r;
}

response plain(problem_details p, const std::string& instance) {
  p.instance = instance;
  return make_problem(p);
}

} // namespace

response answer_for_error(const caf::error& err, const std::string& instance) {
  if (err == entity_errc::overloaded) {
    return with_retry_after(problem(503, problem_type::overloaded,
                                    "too many commands are waiting for this entity; retry later"),
                            instance, 1);
  }
  if (err == entity_errc::deadline_exceeded || err == caf::sec::request_timeout) {
    return plain(problem(504, problem_type::deadline_exceeded,
                         "the command was not decided in time; retrying with the same "
                         "Idempotency-Key is safe"),
                 instance);
  }
  if (err == entity_errc::parked) {
    return with_retry_after(problem(503, problem_type::unavailable,
                                    "this entity failed repeatedly and is parked; an operator "
                                    "must unpark it"),
                            instance, 30);
  }
  if (err == entity_errc::journal_unavailable || err == entity_errc::outcome_unknown ||
      err == entity_errc::crashed || err == caf::sec::request_receiver_down) {
    return with_retry_after(problem(503, problem_type::unavailable,
                                    "the command could not be recorded right now; retrying with "
                                    "the same Idempotency-Key is safe"),
                            instance, 1);
  }
  if (err == entity_errc::unrecordable_command) {
    return plain(problem(422, problem_type::invalid_request,
                         "this command cannot be recorded (its content cannot be stored); "
                         "retrying it gives the same answer"),
                 instance);
  }
  return plain(problem(500, problem_type::internal, "the command failed unexpectedly"), instance);
}

response answer_for_order_rejection(const actors::runtime::command_reply& reply,
                                    const std::string& instance) {
  using actors::order::order_errc;
  switch (static_cast<order_errc>(reply.code)) {
    case order_errc::invalid_order:
      return plain(problem(422, problem_type::invalid_request, reply.reason), instance);
    case order_errc::conflicting_order:
      return plain(problem(422, problem_type::idempotency_key_reused,
                           "this Idempotency-Key was first used for a different order"),
                   instance);
    default:
      return plain(problem(500, problem_type::internal, "the order refused the command"), instance);
  }
}

response answer_for_inventory_rejection(const actors::runtime::command_reply& reply,
                                        const std::string& instance) {
  using actors::inventory::inventory_errc;
  if (static_cast<inventory_errc>(reply.code) == inventory_errc::invalid_quantity) {
    return plain(problem(422, problem_type::invalid_request, reply.reason), instance);
  }
  return plain(problem(500, problem_type::internal, "the inventory refused the command"), instance);
}

} // namespace ordermesh::gateway
