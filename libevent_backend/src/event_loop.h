// One libevent loop thread: an event_base, the doorbell's event and the drain.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "handles.h"
#include "loop_core.h"

namespace spool::libevent {

using core::bump;
using core::ConnectionLimit;
using core::LoopTask;
using core::MemberTask;

/// A libevent timeout from a duration.
inline timeval toTimeval(std::chrono::milliseconds ms) noexcept {
  return timeval{static_cast<time_t>(ms.count() / 1000),
                 static_cast<suseconds_t>((ms.count() % 1000) * 1000)};
}

/// One loop thread and everything it owns (the inbox and its rules are
/// core::LoopCore's).
///
/// Loop thread only unless marked "Thread-safe". The event_base is created
/// with EVENT_BASE_FLAG_NOLOCK: no other thread ever touches it. Other threads
/// reach the loop only through post(), and a producer's only system call is
/// the doorbell's eventfd write: never event_active(), which on a locking
/// base takes the event_base lock on every call.
class EventLoop final : public core::LoopCore {
 public:
  EventLoop(unsigned index, const TransportOptions& options, std::shared_ptr<ConnectionLimit> limit);
  ~EventLoop() override;

  /// Starts the thread. Called once by the transport.
  void start();
  /// Joins the thread, then drains and cancels what is left and frees the
  /// event_base. Not on the loop thread.
  void joinAndRelease();

  /// A counted reference to this loop. Thread-safe.
  [[nodiscard]] std::shared_ptr<EventLoop> self() {
    return std::static_pointer_cast<EventLoop>(shared_from_this());
  }

  // Loop thread only.
  [[nodiscard]] event_base* base() const noexcept { return base_.get(); }

  // core::LoopCore
  void defer(std::function<void()> fn) override;

 private:
  static void onWakeCb(evutil_socket_t fd, short what, void* ctx);
  static void onDrainCb(evutil_socket_t fd, short what, void* ctx);
  static void onDeferredCb(evutil_socket_t fd, short what, void* ctx);
  static void onGraceTimeoutCb(evutil_socket_t fd, short what, void* ctx);

  // core::LoopCore
  void activateDrain() noexcept override;
  void beginStop() override;
  void breakLoop() noexcept override;

  void run();
  void runDeferred();

  EventBasePtr base_;
  EventPtr wake_event_;      // the eventfd became readable: a producer rang
  EventPtr drain_event_;     // activated by the loop itself to drain again
  EventPtr deferred_event_;  // runs defer()ed work on a later turn
  EventPtr grace_timer_;     // stop(): aborts connections still flushing
  std::jthread thread_;

  std::vector<std::function<void()>> deferred_;
};

}  // namespace spool::libevent
