// The transport-wide cap on accepted connections.
#pragma once

#include <atomic>
#include <cstddef>

namespace spool::core {

/// TransportOptions::max_connections, shared by every loop's acceptors.
/// Thread-safe.
class ConnectionLimit {
 public:
  explicit ConnectionLimit(std::size_t max) noexcept : max_(max) {}
  /// Takes a slot; false when the limit is reached (nothing taken).
  [[nodiscard]] bool tryAcquire() noexcept {
    if (max_ == 0) {
      return true;
    }
    if (open_.fetch_add(1, std::memory_order_relaxed) < max_) {
      return true;
    }
    open_.fetch_sub(1, std::memory_order_relaxed);
    return false;
  }
  void release() noexcept {
    if (max_ != 0) {
      open_.fetch_sub(1, std::memory_order_relaxed);
    }
  }
  [[nodiscard]] std::size_t max() const noexcept { return max_; }

 private:
  const std::size_t max_;
  std::atomic<std::size_t> open_{0};
};

}  // namespace spool::core
