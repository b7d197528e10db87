#pragma once

#include <chrono>
#include <cstdint>
#include <functional>

namespace ordermesh::actors::runtime {

/// How a host runs its entities. The runtime's own copy of the configured `entity.*` settings
/// (actors/system's host_settings_from fills it from config::entity_config; defaults alike), plus
/// what only code sets: whether an entity decides all its waiting commands into one append
/// (benchmarks turn it off to measure the difference) and the clock.
struct host_settings {
  /// Passivate an entity after this long without a command.
  std::chrono::milliseconds idle_timeout{30000};
  /// How often an entity checks its timers (idle, reservation expiry, stalled saga).
  std::chrono::milliseconds tick_interval{1000};
  /// Commands one entity may have waiting before it answers overloaded.
  uint32_t max_queue = 4096;
  /// Messages one host may have waiting before it answers overloaded.
  uint32_t max_host_queue = 65536;
  /// Most waiting commands one entity decides into a single journal append.
  uint32_t max_batch = 512;
  /// Save an entity's snapshot every this many events.
  uint32_t snapshot_every = 200;
  /// First restart delay after a crash; doubles with each crash in the window.
  std::chrono::milliseconds restart_backoff{50};
  /// Crashes within crash_window after which an entity is parked.
  uint32_t max_crashes = 5;
  /// The window in which crashes are counted.
  std::chrono::milliseconds crash_window{30000};
  bool batch_commands = true;
  /// The wall clock (Unix microseconds) decisions are made at; tests give a virtual one.
  std::function<int64_t()> now_us = [] {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
};

} // namespace ordermesh::actors::runtime
