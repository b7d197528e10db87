#pragma once

// Saga and host settings that make a whole node's tests quick: 1 s steps, short back-offs, a
// 100 ms tick, and a journal written as an older binary left it. Shared by the node-level actor
// tests (saga_test, payment/actor_test).

#include "actors/order/state.hpp"
#include "actors/runtime/messages.hpp"
#include "tests/support/pg_test_database.hpp"

#include <chrono>
#include <string>
#include <vector>

namespace ordermesh::testing {

inline actors::order::saga_policy fast_policy() {
  actors::order::saga_policy p;
  p.step_timeout_ms = 1000;
  p.retry_base_ms = 50;
  p.retry_max_ms = 200;
  p.max_payment_attempts = 3;
  return p;
}

inline actors::runtime::host_settings fast_settings() {
  using namespace std::chrono_literals;
  actors::runtime::host_settings s;
  s.tick_interval = 100ms;
  s.idle_timeout = 60s;
  return s;
}

/// Appends `events` to `stream` as a node of the older binary wrote them (the same wire names and
/// payloads, `encode` being that aggregate's codec), straight into the journal's table of `db`.
template <class Event, class Encode>
void recorded_earlier(const pg_test_database& db, const std::string& stream,
                      const std::vector<Event>& events, Encode encode) {
  auto version =
      std::stoll(db.query_value("SELECT count(*) FROM events WHERE stream_id = '" + stream + "'"));
  for (const auto& ev : events) {
    auto e = encode(ev);
    db.query_value("INSERT INTO events (stream_id, stream_version, event_type, schema_version, "
                   "payload) VALUES ('" +
                   stream + "', " + std::to_string(++version) + ", '" + e.type + "', " +
                   std::to_string(e.schema_version) + ", '" + e.payload + "'::jsonb) RETURNING 1");
  }
}

} // namespace ordermesh::testing
