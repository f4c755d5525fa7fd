// The stream server's producer threads (every mode but `loop`).
#pragma once

#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

#include "slot_registry.h"

namespace spool::bench {

/// Each producer round-robins over the open connections it owns, one
/// message per connection per pass, skipping a connection whose send was
/// refused until the loop announces it writable again, and sleeping (on its
/// Waker) only when every one of them is paused.
class ProducerPool {
 public:
  explicit ProducerPool(SlotRegistry& registry) : registry_(registry) {}
  ~ProducerPool() { stop(); }

  void start();
  /// Stops and joins. Idempotent.
  void stop();
  /// Messages accepted so far (exact after stop()).
  [[nodiscard]] std::uint64_t sent() const noexcept { return sent_.load(std::memory_order_relaxed); }

 private:
  void run(unsigned producer);

  SlotRegistry& registry_;
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> sent_{0};
  std::vector<std::thread> threads_;
};

}  // namespace spool::bench
