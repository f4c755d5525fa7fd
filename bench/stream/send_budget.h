// The per-connection window for the libevent baseline modes: the same rule
// spool applies (accept while the backlog is under the high watermark; tell
// a refused producer once it is back at the low watermark).
#pragma once

#include <atomic>
#include <cstddef>

namespace spool::bench {

/// Thread-safe: reserve() on producers, release() on the loop.
class SendBudget {
 public:
  SendBudget(std::size_t high, std::size_t low) : high_(high), low_(low) {}

  /// Accounts `n` bytes; false (and nothing accounted) when over budget.
  bool reserve(std::size_t n) noexcept {
    // Two tries: a refusal that finds the backlog already drained (the loop
    // may have missed our flag) tries once more; after that the producer's
    // sleep limit is the safety net.
    for (int attempt = 0; attempt < 2; ++attempt) {
      if (backlog_.fetch_add(n, std::memory_order_seq_cst) < high_) {
        return true;
      }
      refused_.store(true, std::memory_order_seq_cst);
      if (backlog_.fetch_sub(n, std::memory_order_seq_cst) - n > low_) {
        return false;
      }
    }
    return false;
  }
  /// `n` bytes left the process (or were dropped). True when a refused
  /// producer must now be told the connection is writable.
  bool release(std::size_t n) noexcept {
    const std::size_t now = backlog_.fetch_sub(n, std::memory_order_seq_cst) - n;
    return now <= low_ && refused_.load(std::memory_order_seq_cst) &&
           refused_.exchange(false, std::memory_order_seq_cst);
  }

 private:
  const std::size_t high_;
  const std::size_t low_;
  alignas(64) std::atomic<std::size_t> backlog_{0};
  std::atomic<bool> refused_{false};
};

}  // namespace spool::bench
