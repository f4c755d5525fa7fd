// The Envoy/muduo way of posting work to a loop: a mutex-protected vector,
// and a wake-up only on the empty -> non-empty transition.
#pragma once

#include <mutex>
#include <vector>

namespace spool::bench {

/// Thread-safe post(); takeAll() on the loop thread.
template <typename Item>
class PostQueue {
 public:
  /// Appends `item`. True when the queue was empty: the caller must wake the
  /// loop (the baselines call event_active, which takes the base lock).
  bool post(const Item& item) {
    std::lock_guard lock(mutex_);
    pending_.push_back(item);
    return pending_.size() == 1;
  }
  /// Swaps everything queued into `out` (cleared first) under the lock.
  void takeAll(std::vector<Item>& out) {
    out.clear();
    std::lock_guard lock(mutex_);
    out.swap(pending_);
  }
  /// Discards what is queued (after the loop stopped), calling drop(item).
  template <typename Drop>
  void dropAll(Drop&& drop) {
    std::lock_guard lock(mutex_);
    for (const Item& item : pending_) {
      drop(item);
    }
    pending_.clear();
  }

 private:
  std::mutex mutex_;
  std::vector<Item> pending_;
};

}  // namespace spool::bench
