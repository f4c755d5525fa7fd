// The live counters behind LoopStats.
#pragma once

#include <atomic>
#include <cstdint>

#include "spool/stats.h"

namespace spool::core {

/// One atomic per SPOOL_LOOP_STATS field. Most are written by the loop
/// thread alone (bump(): relaxed load + store, no read-modify-write);
/// wakeups_requested and backpressure_refusals are written by producers too,
/// with relaxed fetch_add, and only on rare events.
struct LoopCounters {
#define SPOOL_LOOP_COUNTER(name, combine) std::atomic<std::uint64_t> name{0};
  SPOOL_LOOP_STATS(SPOOL_LOOP_COUNTER)
#undef SPOOL_LOOP_COUNTER

  /// Relaxed loads of every counter.
  [[nodiscard]] LoopStats snapshot() const noexcept {
    LoopStats s;
#define SPOOL_LOOP_SNAPSHOT(name, combine) s.name = name.load(std::memory_order_relaxed);
    SPOOL_LOOP_STATS(SPOOL_LOOP_SNAPSHOT)
#undef SPOOL_LOOP_SNAPSHOT
    return s;
  }
};

/// Adds to a counter that only the loop thread writes: no read-modify-write.
inline void bump(std::atomic<std::uint64_t>& counter, std::uint64_t by = 1) noexcept {
  counter.store(counter.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
}

/// Raises a loop-only maximum.
inline void raise(std::atomic<std::uint64_t>& counter, std::uint64_t value) noexcept {
  if (value > counter.load(std::memory_order_relaxed)) {
    counter.store(value, std::memory_order_relaxed);
  }
}

}  // namespace spool::core
