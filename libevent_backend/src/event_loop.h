// One loop thread: an event_base, its inbox and its wake-up path.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "handles.h"
#include "spool/buffer.h"
#include "spool/mpsc_queue.h"
#include "spool/stats.h"
#include "spool/transport.h"
#include "wake_fd.h"

namespace spool::libevent {

class LibeventConnection;
class EventLoop;

/// A control message for a loop. `fn` runs on the loop thread with
/// cancelled=false, or, when the loop has already stopped, with
/// cancelled=true on whichever thread drains the inbox then; it must release
/// whatever the task owns in both cases.
struct LoopTask : detail::InboxNode {
  using Fn = void (*)(LoopTask* self, bool cancelled) noexcept;
  explicit LoopTask(Fn f) noexcept : InboxNode(detail::InboxKind::kControl), fn(f) {}
  Fn fn;
};

/// A task embedded in the object it acts on, so posting it allocates nothing.
template <typename Owner>
struct MemberTask : LoopTask {
  MemberTask(Owner* o, Fn f) noexcept : LoopTask(f), owner(o) {}
  Owner* owner;
};

/// Counters of one loop. Loop-only fields are written with relaxed
/// load+store by the loop thread alone; the others with relaxed fetch_add.
struct LoopCounters {
  // Written by the loop thread only.
  std::atomic<std::uint64_t> connections_open{0};
  std::atomic<std::uint64_t> connections_total{0};
  std::atomic<std::uint64_t> connections_rejected{0};
  std::atomic<std::uint64_t> accept_errors{0};
  std::atomic<std::uint64_t> bytes_in{0};
  std::atomic<std::uint64_t> bytes_out{0};
  std::atomic<std::uint64_t> messages_drained{0};
  std::atomic<std::uint64_t> messages_direct{0};
  std::atomic<std::uint64_t> wakeups_served{0};
  std::atomic<std::uint64_t> drain_batches{0};
  std::atomic<std::uint64_t> eager_writes{0};
  std::atomic<std::uint64_t> largest_batch{0};
  std::atomic<std::uint64_t> tls_handshakes{0};
  std::atomic<std::uint64_t> tls_failures{0};
  // Written by producers too (rare events only: wake-ups and refusals).
  std::atomic<std::uint64_t> wakeups_requested{0};
  std::atomic<std::uint64_t> backpressure_refusals{0};
};

/// The transport-wide cap on accepted connections (TransportOptions::max_connections),
/// shared by every loop's acceptors. Thread-safe.
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

 private:
  const std::size_t max_;
  std::atomic<std::size_t> open_{0};
};

/// A libevent timeout from a duration.
inline timeval toTimeval(std::chrono::milliseconds ms) noexcept {
  return timeval{static_cast<time_t>(ms.count() / 1000),
                 static_cast<suseconds_t>((ms.count() % 1000) * 1000)};
}

/// Adds to a counter that only the loop thread writes: no read-modify-write.
inline void bump(std::atomic<std::uint64_t>& counter, std::uint64_t by = 1) noexcept {
  counter.store(counter.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
}

/// One loop thread and everything it owns.
///
/// Loop thread only unless marked "Thread-safe". The event_base is created
/// with EVENT_BASE_FLAG_NOLOCK: no other thread ever touches it. Other threads
/// reach the loop only through post(), whose inbox is a lock-free MPSC queue.
///
/// Lifetime: shared by the transport and by every connection of the loop, so
/// that a producer holding a ConnectionPtr can always push into the inbox,
/// even after stop(); what arrives after stop() is drained, cancelled, by the
/// producer itself (see drainAfterStop()).
class EventLoop : public std::enable_shared_from_this<EventLoop> {
 public:
  EventLoop(unsigned index, const TransportOptions& options,
            std::shared_ptr<ConnectionLimit> limit);
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  /// Starts the thread. Called once by the transport.
  void start();
  /// Asks the loop to close everything and exit. Thread-safe, idempotent.
  void requestStop() noexcept;
  /// Joins the thread, then drains and cancels what is left and frees the
  /// event_base. Not on the loop thread.
  void joinAndRelease();

  /// Queues a payload or a task. Thread-safe. Wakes the loop only when the
  /// inbox was empty and the loop is not draining it already.
  void post(detail::InboxNode* node) noexcept;
  /// Runs `fn` on the loop thread (with cancelled=false), or with
  /// cancelled=true if the loop stops first. Thread-safe.
  void runInLoop(std::function<void(bool cancelled)> fn);
  /// runInLoop and wait for it. Not on the loop thread.
  void runInLoopAndWait(std::function<void(bool cancelled)> fn);

  /// Thread-safe.
  [[nodiscard]] bool inLoopThread() const noexcept;
  /// Fatal (with both thread ids and the loop's name) when not on the loop
  /// thread. Active unless NDEBUG; sanitizer builds keep it on.
  void assertInLoopThread(const char* where) const noexcept;
  [[nodiscard]] unsigned index() const noexcept { return index_; }
  [[nodiscard]] const std::string& name() const noexcept { return name_; }
  [[nodiscard]] LoopStats stats() const noexcept;
  [[nodiscard]] LoopCounters& counters() noexcept { return counters_; }
  [[nodiscard]] const TransportOptions& options() const noexcept { return options_; }
  [[nodiscard]] ConnectionLimit& connectionLimit() const noexcept { return *limit_; }
  /// True once the inbox holds nothing pushed before this call. Loop thread
  /// (the consumer) only.
  [[nodiscard]] bool inboxEmpty() const noexcept { return inbox_.empty(); }

  // Loop thread only.
  [[nodiscard]] event_base* base() const noexcept { return base_.get(); }
  [[nodiscard]] bool stopping() const noexcept { return stopping_; }
  /// True while drain() is moving payloads (connections may stage copies).
  [[nodiscard]] bool inDrain() const noexcept { return in_drain_; }
  /// `conn` holds staged output to commit when this drain batch ends.
  void noteStaged(LibeventConnection* conn) { staged_.push_back(conn); }

  /// While a WriteScope is open (a read callback, a drain batch), output
  /// added to plain connections is written straight to their sockets when
  /// the scope ends instead of waiting for the socket to poll writable. See
  /// LibeventConnection::noteOutputAdded().
  class WriteScope {
   public:
    explicit WriteScope(EventLoop& loop) noexcept : loop_(loop) { ++loop_.write_scope_depth_; }
    ~WriteScope() {
      if (--loop_.write_scope_depth_ == 0 && !loop_.eager_writes_.empty()) {
        loop_.writeEagerly();
      }
    }
    WriteScope(const WriteScope&) = delete;
    WriteScope& operator=(const WriteScope&) = delete;

   private:
    EventLoop& loop_;
  };
  [[nodiscard]] bool inWriteScope() const noexcept { return write_scope_depth_ > 0; }
  /// `conn` has output to write when the current WriteScope ends.
  void noteEagerWrite(LibeventConnection* conn) { eager_writes_.push_back(conn); }
  /// Runs `fn` on a later turn of this loop, from a clean stack.
  void defer(std::function<void()> fn);
  void addConnection(std::shared_ptr<LibeventConnection> conn);
  void removeConnection(std::uint64_t id);
  /// Keeps an event-library object alive until the loop stops (listeners).
  void adopt(std::shared_ptr<void> resource);

 private:
  static void onWakeCb(evutil_socket_t fd, short what, void* ctx);
  static void onDrainCb(evutil_socket_t fd, short what, void* ctx);
  static void onDeferredCb(evutil_socket_t fd, short what, void* ctx);
  static void onGraceTimeoutCb(evutil_socket_t fd, short what, void* ctx);
  static void onStopTask(LoopTask* task, bool cancelled) noexcept;

  void run();
  void drain();
  void dispatch(detail::InboxNode* node, bool cancelled) noexcept;
  /// pop() found a producer mid-push: give it a moment to link.
  PopStatus waitForLink(detail::InboxNode*& node) noexcept;
  void runDeferred();
  void writeEagerly() noexcept;
  void beginStop();
  void maybeFinishStop();
  void drainAfterStop() noexcept;

  const unsigned index_;
  const std::string name_;
  const TransportOptions options_;
  const std::shared_ptr<ConnectionLimit> limit_;

  EventBasePtr base_;
  WakeFd wake_fd_;
  EventPtr wake_event_;      // the eventfd became readable: a producer rang
  EventPtr drain_event_;     // activated by the loop itself to drain again
  EventPtr deferred_event_;  // runs defer()ed work on a later turn
  EventPtr grace_timer_;     // stop(): aborts connections still flushing

  MpscQueue<detail::InboxNode> inbox_;
  // True while the loop is inside (or has re-armed) a drain: producers then
  // skip the eventfd write, because the drain re-checks the inbox before it
  // clears this flag.
  alignas(64) std::atomic<bool> draining_{false};
  // Read by every post(), written once: on a line of its own, away from
  // draining_, which the loop flips on every drain.
  alignas(64) std::atomic<bool> stopped_{false};  // set after the thread has exited
  std::atomic<bool> stop_requested_{false};
  std::recursive_mutex after_stop_mutex_;  // consumer role once stopped_

  std::jthread thread_;
  std::atomic<std::thread::id> thread_id_{};

  MemberTask<EventLoop> stop_task_{this, &EventLoop::onStopTask};
  bool stopping_ = false;
  bool in_drain_ = false;
  std::vector<LibeventConnection*> staged_;  // alive: open, hence in connections_
  // Connections to write when the current WriteScope ends. Alive: a
  // connection is freed on a later turn (finish() is deferred), never inside
  // the read callback or drain that added it here.
  std::vector<LibeventConnection*> eager_writes_;
  unsigned write_scope_depth_ = 0;
  std::unordered_map<std::uint64_t, std::shared_ptr<LibeventConnection>> connections_;
  std::vector<std::function<void()>> deferred_;
  std::vector<std::shared_ptr<void>> resources_;

  LoopCounters counters_;
};

}  // namespace spool::libevent
