// The open connections, shared between the loops (which open and close
// them) and the producers (which feed them).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <vector>

#include "stream_slot.h"

namespace spool::bench {

/// Thread-safe. Producers poll version() (one relaxed load) and take a fresh
/// snapshot only when it changed, so the mutex stays off the send path.
class SlotRegistry {
 public:
  explicit SlotRegistry(unsigned producers) : wakers_(producers), by_producer_(producers) {}

  /// A connection opened (loop thread): owned by producer (n mod P) for the
  /// n-th connection.
  void add(const StreamSlotPtr& slot);
  /// It closed (loop thread).
  void markClosed(StreamSlot& slot);

  [[nodiscard]] std::uint64_t version() const noexcept { return version_.load(std::memory_order_acquire); }
  /// The open slots owned by `producer`.
  [[nodiscard]] std::vector<StreamSlotPtr> slotsOf(unsigned producer);
  [[nodiscard]] Waker& waker(unsigned producer) noexcept { return wakers_[producer]; }
  [[nodiscard]] unsigned producers() const noexcept { return static_cast<unsigned>(wakers_.size()); }

  /// Blocks until every connection opened so far has closed (at least one
  /// having opened), `limit` passes, or `interrupted()` returns true
  /// (checked every 50 ms). True when the clients came and went.
  template <typename Interrupted>
  bool waitForClientsDone(std::chrono::steady_clock::time_point limit, Interrupted&& interrupted) {
    std::unique_lock lock(mutex_);
    while (!(opened_ > 0 && open_ == 0)) {
      if (std::chrono::steady_clock::now() >= limit || interrupted()) {
        return false;
      }
      cv_.wait_for(lock, std::chrono::milliseconds(50));
    }
    return true;
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<Waker> wakers_;  // not movable: a deque never relocates them
  std::vector<std::vector<StreamSlotPtr>> by_producer_;
  std::uint64_t opened_ = 0;
  std::uint64_t open_ = 0;
  std::atomic<std::uint64_t> version_{0};
};

}  // namespace spool::bench
