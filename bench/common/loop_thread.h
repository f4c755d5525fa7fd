// One libevent loop on its own thread, for the strategies that use libevent
// directly (the baselines, and the handoff benchmark's copy of spool's inbox).
#pragma once

#include <atomic>
#include <thread>

#include "ev_handles.h"

namespace spool::bench {

/// Owns an event_base and the thread that dispatches it. Loop thread only
/// unless marked.
class LoopThread {
 public:
  /// `locking`: false creates the base with EVENT_BASE_FLAG_NOLOCK (only the
  /// loop thread may touch it, as in spool); true leaves libevent's locks on
  /// (threading must be enabled first: evthread_use_pthreads() or counting locks).
  /// `max_callbacks_per_poll` > 0 makes libevent poll (without blocking)
  /// after that many callbacks, as spool's loops do, so an event that keeps
  /// re-activating itself cannot starve I/O.
  explicit LoopThread(bool locking, int max_callbacks_per_poll = 0);
  ~LoopThread();
  LoopThread(const LoopThread&) = delete;
  LoopThread& operator=(const LoopThread&) = delete;

  [[nodiscard]] event_base* base() const noexcept { return base_.get(); }
  /// Starts dispatching on a new thread. Call once.
  void start();
  /// Breaks the loop from any thread (through an eventfd, so it is safe on a
  /// NOLOCK base too) and joins it. Idempotent. Thread-safe, not on the loop.
  void stop();
  /// Thread-safe.
  [[nodiscard]] bool inLoopThread() const noexcept { return std::this_thread::get_id() == thread_id_.load(); }

 private:
  static void onStopCb(evutil_socket_t fd, short what, void* ctx);

  EventBasePtr base_;
  int stop_fd_ = -1;
  EventPtr stop_event_;
  std::thread thread_;
  std::atomic<std::thread::id> thread_id_{};
};

}  // namespace spool::bench
