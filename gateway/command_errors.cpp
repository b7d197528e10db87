#include "gateway/command_errors.hpp"

#include "actors/order/messages.hpp"
#include "gateway/order_request.hpp"

#include <caf/sec.hpp>

namespace ordermesh::gateway {

namespace {

using actors::runtime::entity_errc;

constexpr const char* retry_is_safe = "the command could not be recorded right now; retrying "
                                      "with the same Idempotency-Key is safe";

/// A code the client cannot act on: a bug or a command the gateway never sends.
constexpr http_answer internal(const char* detail) {
  return {500, problem_type::internal, detail, 0};
}

response answer_with(const http_answer& a, const std::string& reason, const std::string& instance) {
  auto p = problem(a.status, a.type, a.detail ? a.detail : reason);
  p.instance = instance;
  auto r = make_problem(p);
  if (a.retry_after_s > 0) {
    r.headers.emplace_back("Retry-After", std::to_string(a.retry_after_s));
  }
  return r;
}

} // namespace

// -- the table ------------------------------------------------------------------------------------
// Switches without default: a new code without a row is a -Wswitch warning, and
// tests/gateway/api_unit_test.cpp walks every value of each enum.

http_answer http_for(entity_errc code) {
  switch (code) {
    case entity_errc::overloaded:
      return {503, problem_type::overloaded,
              "too many commands are waiting for this entity; retry later", 1};
    case entity_errc::deadline_exceeded:
      return {504, problem_type::deadline_exceeded,
              "the command was not decided in time; retrying with the same Idempotency-Key is "
              "safe",
              0};
    case entity_errc::parked:
      return {503, problem_type::unavailable,
              "this entity failed repeatedly and is parked; an operator must unpark it", 30};
    case entity_errc::journal_unavailable:
    case entity_errc::outcome_unknown:
    case entity_errc::crashed:
      return {503, problem_type::unavailable, retry_is_safe, 1};
    case entity_errc::unrecordable_command:
      return {422, problem_type::invalid_request,
              "this command cannot be recorded (its content cannot be stored); retrying it gives "
              "the same answer",
              0};
    case entity_errc::nil:
    case entity_errc::unknown_command:
    case entity_errc::unreadable_history:
      return internal("the command failed unexpectedly");
  }
  return {};
}

http_answer http_for(actors::order::order_errc code) {
  using actors::order::order_errc;
  switch (code) {
    case order_errc::invalid_order:
      return {422, problem_type::invalid_request, nullptr, 0};
    case order_errc::conflicting_order:
      return {422, problem_type::idempotency_key_reused,
              "this Idempotency-Key was first used for a different order", 0};
    case order_errc::nil:
    case order_errc::unknown_order:
    case order_errc::unknown_line:
    case order_errc::unexpected_reply:
    case order_errc::capture_failed:
      return internal("the order refused the command");
  }
  return {};
}

http_answer http_for(actors::payment::payment_errc code) {
  using actors::payment::payment_errc;
  switch (code) {
    case payment_errc::nil:
    case payment_errc::invalid_payment:
    case payment_errc::unknown_payment:
    case payment_errc::payment_declined:
    case payment_errc::payment_closed:
    case payment_errc::not_authorized:
    case payment_errc::not_captured:
    case payment_errc::already_captured:
      return internal("the payment refused the command");
  }
  return {};
}

http_answer http_for(actors::notification::notification_errc code) {
  using actors::notification::notification_errc;
  switch (code) {
    case notification_errc::nil:
    case notification_errc::invalid_notification:
    case notification_errc::conflicting_notification:
      return internal("the notification refused the command");
  }
  return {};
}

http_answer http_for(actors::inventory::inventory_errc code) {
  using actors::inventory::inventory_errc;
  switch (code) {
    case inventory_errc::invalid_quantity:
      return {422, problem_type::invalid_request, nullptr, 0};
    case inventory_errc::unknown_sku:
      return {422, problem_type::unknown_sku, nullptr, 0};
    case inventory_errc::nil:
    case inventory_errc::invalid_ttl:
    case inventory_errc::out_of_stock:
    case inventory_errc::unknown_reservation:
    case inventory_errc::reservation_expired:
    case inventory_errc::reservation_closed:
      return internal("the inventory refused the command");
  }
  return {};
}

// -- answers --------------------------------------------------------------------------------------

namespace {

/// The row of `err` if it is a caf::error of `Errc` that the table knows.
template <class Errc>
std::optional<http_answer> row_of(const caf::error& err) {
  if (auto code = actors::runtime::rejection_code<Errc>(err)) {
    if (auto row = http_for(*code); row.status != 0) {
      return row;
    }
  }
  return std::nullopt;
}

} // namespace

response answer_for_error(const caf::error& err, const std::string& instance) {
  for (auto row :
       {row_of<entity_errc>(err), row_of<actors::order::order_errc>(err),
        row_of<actors::inventory::inventory_errc>(err), row_of<actors::payment::payment_errc>(err),
        row_of<actors::notification::notification_errc>(err)}) {
    if (row) {
      return answer_with(*row, actors::runtime::reason_of(err), instance);
    }
  }
  if (err == caf::sec::request_timeout) {
    return answer_with(http_for(entity_errc::deadline_exceeded), "", instance);
  }
  if (err == caf::sec::request_receiver_down) {
    return answer_with(http_for(entity_errc::crashed), "", instance);
  }
  return answer_with(http_for(entity_errc::nil), "", instance);
}

problem_details finished_order_problem(const std::string& order_id, const std::string& status,
                                       const std::string& reason) {
  const bool rejected = status == actors::order::to_string(actors::order::order_status::rejected);
  const auto unknown_sku = rejected ? unknown_sku_of(reason) : std::nullopt;
  const auto row = unknown_sku ? http_for(actors::inventory::inventory_errc::unknown_sku)
                   : rejected  ? http_answer{409, problem_type::order_rejected}
                               : http_answer{422, problem_type::order_cancelled};
  auto p = problem(row.status, row.type,
                   "order " + order_id + " was " + status + (reason.empty() ? "" : ": " + reason));
  p.extensions = {{"order_id", order_id}, {"order_status", status}, {"reason", reason}};
  if (unknown_sku) {
    p.extensions["unknown_skus"] = nlohmann::json::array({*unknown_sku});
  }
  return p;
}

std::optional<std::string> unknown_sku_of(const std::string& order_reason) {
  const auto prefix = to_string(actors::inventory::inventory_errc::unknown_sku) + ": ";
  if (order_reason.size() <= prefix.size() || order_reason.compare(0, prefix.size(), prefix) != 0) {
    return std::nullopt;
  }
  return order_reason.substr(prefix.size());
}

} // namespace ordermesh::gateway
