#pragma once

// The project's one type-ID block (caf-0.17.md §3): every type that travels in a message.
// Loaded once per actor system by core::configure (core/actor_system.hpp). It includes message
// headers only (messages, replies, errors), so it sits above every folder that has messages and
// below the code that builds an actor system (scripts/check-layering); nothing needs it to compile
// a send.

#include "actors/common/envelope.hpp"
#include "actors/inventory/messages.hpp"
#include "actors/inventory/replies.hpp"
#include "actors/notification/messages.hpp"
#include "actors/notification/replies.hpp"
#include "actors/order/messages.hpp"
#include "actors/order/replies.hpp"
#include "actors/payment/messages.hpp"
#include "actors/payment/psp_messages.hpp"
#include "actors/payment/replies.hpp"
#include "actors/runtime/messages.hpp"
#include "persistence/event.hpp"
#include "persistence/messages.hpp"

#include <caf/type_id.hpp>

#include <vector>

// clang-format off
CAF_BEGIN_TYPE_ID_BLOCK(ordermesh, caf::first_custom_type_id)
  CAF_ADD_TYPE_ID(ordermesh, (ordermesh::persistence::new_event))
  CAF_ADD_TYPE_ID(ordermesh, (ordermesh::persistence::stream_append))
  CAF_ADD_TYPE_ID(ordermesh, (std::vector<ordermesh::persistence::stream_append>))
  CAF_ADD_TYPE_ID(ordermesh, (ordermesh::persistence::append_result))
  CAF_ADD_TYPE_ID(ordermesh, (std::vector<ordermesh::persistence::append_result>))
  CAF_ADD_TYPE_ID(ordermesh, (ordermesh::persistence::journal_stats))
  CAF_ADD_TYPE_ID(ordermesh, (ordermesh::persistence::recorded_event))
  CAF_ADD_TYPE_ID(ordermesh, (ordermesh::persistence::snapshot))
  CAF_ADD_TYPE_ID(ordermesh, (ordermesh::persistence::stream_history))
  CAF_ADD_TYPE_ID(ordermesh, (ordermesh::actors::envelope))
  CAF_ADD_TYPE_ID(ordermesh, (ordermesh::actors::runtime::entity_info))
  CAF_ADD_TYPE_ID(ordermesh, (std::vector<ordermesh::actors::runtime::entity_info>))
  CAF_ADD_TYPE_ID(ordermesh, (ordermesh::actors::runtime::entity_report))
  CAF_ADD_TYPE_ID(ordermesh, (ordermesh::actors::inventory::restock))
  CAF_ADD_TYPE_ID(ordermesh, (ordermesh::actors::inventory::reserve))
  CAF_ADD_TYPE_ID(ordermesh, (ordermesh::actors::inventory::release))
  CAF_ADD_TYPE_ID(ordermesh, (ordermesh::actors::inventory::commit))
  CAF_ADD_TYPE_ID(ordermesh, (ordermesh::actors::inventory::expire_reservations))
  CAF_ADD_TYPE_ID(ordermesh, (ordermesh::actors::inventory::return_committed))
  CAF_ADD_TYPE_ID(ordermesh, (ordermesh::actors::order::order_line))
  CAF_ADD_TYPE_ID(ordermesh, (ordermesh::actors::order::payment_details))
  CAF_ADD_TYPE_ID(ordermesh, (ordermesh::actors::order::place_order))
  CAF_ADD_TYPE_ID(ordermesh, (ordermesh::actors::order::record_reservation))
  CAF_ADD_TYPE_ID(ordermesh, (ordermesh::actors::order::record_authorization))
  CAF_ADD_TYPE_ID(ordermesh, (ordermesh::actors::order::record_stock_commit))
  CAF_ADD_TYPE_ID(ordermesh, (ordermesh::actors::order::record_capture))
  CAF_ADD_TYPE_ID(ordermesh, (ordermesh::actors::order::record_timeout))
  CAF_ADD_TYPE_ID(ordermesh, (ordermesh::actors::order::record_compensated))
  CAF_ADD_TYPE_ID(ordermesh, (ordermesh::actors::order::record_stock_taken))
  CAF_ADD_TYPE_ID(ordermesh, (ordermesh::actors::order::order_completed))
  CAF_ADD_TYPE_ID(ordermesh, (ordermesh::actors::payment::authorize))
  CAF_ADD_TYPE_ID(ordermesh, (ordermesh::actors::payment::record_psp_result))
  CAF_ADD_TYPE_ID(ordermesh, (ordermesh::actors::payment::record_hold_released))
  CAF_ADD_TYPE_ID(ordermesh, (ordermesh::actors::payment::capture))
  CAF_ADD_TYPE_ID(ordermesh, (ordermesh::actors::payment::record_capture_confirmed))
  CAF_ADD_TYPE_ID(ordermesh, (ordermesh::actors::payment::refund))
  CAF_ADD_TYPE_ID(ordermesh, (ordermesh::actors::payment::void_authorization))
  CAF_ADD_TYPE_ID(ordermesh, (ordermesh::actors::payment::psp_request))
  CAF_ADD_TYPE_ID(ordermesh, (ordermesh::actors::payment::psp_reply))
  CAF_ADD_TYPE_ID(ordermesh, (ordermesh::actors::payment::breaker_report))
  CAF_ADD_TYPE_ID(ordermesh, (ordermesh::actors::notification::record_notification))
  CAF_ADD_TYPE_ID(ordermesh, (ordermesh::actors::payment::sell))
  CAF_ADD_TYPE_ID(ordermesh, (ordermesh::actors::payment::record_sale_result))
  CAF_ADD_TYPE_ID(ordermesh, (ordermesh::actors::payment::reverse_sale))
  CAF_ADD_TYPE_ID(ordermesh, (ordermesh::actors::payment::record_sale_reversed))
  CAF_ADD_TYPE_ID(ordermesh, (ordermesh::actors::inventory::settle))
  CAF_ADD_TYPE_ID(ordermesh, (ordermesh::actors::order::record_sale_reversed))
  CAF_ADD_TYPE_ID(ordermesh, (ordermesh::actors::payment::record_refund_confirmed))
  CAF_ADD_TYPE_ID(ordermesh, (ordermesh::actors::inventory::inventory_summary))
  CAF_ADD_TYPE_ID(ordermesh, (ordermesh::actors::inventory::inventory_reply))
  CAF_ADD_TYPE_ID(ordermesh, (ordermesh::actors::order::order_summary))
  CAF_ADD_TYPE_ID(ordermesh, (ordermesh::actors::order::order_reply))
  CAF_ADD_TYPE_ID(ordermesh, (ordermesh::actors::payment::payment_summary))
  CAF_ADD_TYPE_ID(ordermesh, (ordermesh::actors::payment::payment_reply))
  CAF_ADD_TYPE_ID(ordermesh, (ordermesh::actors::notification::notification_summary))
  CAF_ADD_TYPE_ID(ordermesh, (ordermesh::actors::notification::notification_reply))
  CAF_ADD_TYPE_ID(ordermesh, (ordermesh::actors::order::record_stock_settled))
  CAF_ADD_TYPE_ID(ordermesh, (ordermesh::actors::inventory::settle_orders))
  CAF_ADD_TYPE_ID(ordermesh, (ordermesh::actors::order::record_notified))
CAF_END_TYPE_ID_BLOCK(ordermesh)
// clang-format on
