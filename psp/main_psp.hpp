#pragma once

#include "config/config.hpp"

namespace ordermesh::psp {

/// `ordermesh psp`: serves the PSP stand-in on psp.host:psp.port with the configured faults, logs
/// one JSON line with the bound address, runs until SIGINT or SIGTERM, then stops gracefully.
/// Returns 0 after a clean stop, 1 when the server could not start. Logging is initialised by the
/// caller.
int run_psp(const config::app_config& cfg);

} // namespace ordermesh::psp
