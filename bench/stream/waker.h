// Lets a producer sleep when every connection it feeds is paused, without
// putting a lock or a syscall on the send path.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>

namespace spool::bench {

/// One per producer. notify() is cheap when the producer is not asleep: one
/// seq_cst load. The producer announces itself (sleeping_ = true, seq_cst)
/// before re-checking its connections, and the notifier changes a
/// connection's state before it loads sleeping_, so one of the two always
/// sees the other (Dekker); the timeout is a second safety net.
class Waker {
 public:
  /// Any thread (the loop, from onWritable).
  void notify() noexcept {
    if (sleeping_.load(std::memory_order_seq_cst)) {
      {
        std::lock_guard lock(mutex_);
        ++epoch_;
      }
      cv_.notify_one();
    }
  }
  /// The producer: sleeps until notified or `limit` passes, unless
  /// `ready()` (re-checked after announcing the sleep) is already true.
  template <typename Ready>
  void wait(Ready&& ready, std::chrono::microseconds limit) {
    std::unique_lock lock(mutex_);
    const auto epoch = epoch_;
    sleeping_.store(true, std::memory_order_seq_cst);
    if (!ready()) {
      cv_.wait_for(lock, limit, [&] { return epoch_ != epoch; });
    }
    sleeping_.store(false, std::memory_order_relaxed);
  }

 private:
  alignas(64) std::atomic<bool> sleeping_{false};
  std::mutex mutex_;
  std::condition_variable cv_;
  std::uint64_t epoch_ = 0;
};

}  // namespace spool::bench
