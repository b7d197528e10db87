#pragma once

#include "config/loader.hpp"

namespace ordermesh::app {

/// `ordermesh event-store-demo`: exit code 0 on success, 1 if the store failed.
int run_event_store_demo(const config::loaded_config& cfg);

/// `ordermesh order-demo`: a node with the PSP stand-in places orders through the whole saga and
/// prints how each ended; exit code 1 if a saga did not finish.
int run_order_demo(const config::loaded_config& cfg);

/// `ordermesh migrate`: exit code 0 on success, 1 if the store failed.
int run_migrate(const config::loaded_config& cfg);

} // namespace ordermesh::app
