#pragma once

#include "actors/payment/psp_messages.hpp"
#include "config/config.hpp"

#include <caf/atom.hpp>
#include <caf/fwd.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include <cstddef>
#include <cstdint>

namespace ordermesh::actors::payment {

using psp_call_atom = caf::atom_constant<caf::atom("pspcall")>;
using breaker_atom = caf::atom_constant<caf::atom("breaker")>;

/// The only way out to the PSP: a circuit breaker in front of an asynchronous HTTP client
/// (psp::psp_async_client: keep-alive connections on one io thread of its own), so no PSP call
/// blocks a scheduler thread or wakes a thread per call; each call is answered within
/// psp.client_timeout (a timeout is a failure for the breaker).
using psp_gateway_actor =
    caf::typed_actor<caf::replies_to<psp_call_atom, psp_request>::with<psp_reply>,
                     caf::replies_to<caf::get_atom, breaker_atom>::with<breaker_report>>;

/// At most `connections` calls in flight at once (more wait for a free connection); the breaker
/// opens after `failure_threshold` consecutive failures.
psp_gateway_actor spawn_psp_gateway(caf::actor_system& sys, const config::psp_config& psp,
                                    int32_t failure_threshold, int64_t open_for_ms,
                                    size_t connections = 4);

} // namespace ordermesh::actors::payment
