#pragma once

// The project's one type-ID block (caf-0.17.md §3): every type that travels in a message.
// Loaded once per actor system by core::configure (core/actor_system.hpp).

#include "actors/common/envelope.hpp"
#include "actors/inventory/messages.hpp"
#include "actors/notification/messages.hpp"
#include "actors/order/messages.hpp"
#include "actors/payment/messages.hpp"
#include "actors/payment/psp_gateway.hpp"
#include "actors/shard/messages.hpp"
#include "persistence/event.hpp"
#include "persistence/journal.hpp"

#include <caf/type_id.hpp>

#include <vector>

CAF_BEGIN_TYPE_ID_BLOCK(ordermesh, caf::first_custom_type_id)
CAF_ADD_TYPE_ID(ordermesh, (ordermesh::persistence::new_event))
CAF_ADD_TYPE_ID(ordermesh, (ordermesh::persistence::stream_append))
CAF_ADD_TYPE_ID(ordermesh, (std::vector<ordermesh::persistence::stream_append>))
CAF_ADD_TYPE_ID(ordermesh, (ordermesh::persistence::append_result))
CAF_ADD_TYPE_ID(ordermesh, (std::vector<ordermesh::persistence::append_result>))
CAF_ADD_TYPE_ID(ordermesh, (ordermesh::persistence::journal_stats))
CAF_END_TYPE_ID_BLOCK(ordermesh)
