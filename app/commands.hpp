#pragma once

#include "config/loader.hpp"

namespace ordermesh::app {

/// `ordermesh event-store-demo`: exit code 0 on success, 1 if the store failed.
int run_event_store_demo(const config::loaded_config& cfg);

/// `ordermesh standalone`: node + HTTP gateway in one process until SIGINT/SIGTERM; exit code 1
/// if it could not start.
int run_standalone(const config::loaded_config& cfg);

/// `ordermesh migrate`: exit code 0 on success, 1 if the store failed.
int run_migrate(const config::loaded_config& cfg);

} // namespace ordermesh::app
