// What every backend's loop shares: the inbox, its wake-up rule, the
// thread identity, stop hand-over and the counters.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "connection_limit.h"
#include "loop_counters.h"
#include "loop_task.h"
#include "spool/buffer.h"
#include "spool/mpsc_queue.h"
#include "spool/stats.h"
#include "spool/transport.h"
#include "wake_fd.h"

namespace spool::core {

class ConnectionBase;

/// Prints "spool: fatal: <message>" and aborts: for setup failures that
/// cannot be recovered and for broken invariants.
[[noreturn]] void fatal(const std::string& message);

/// Throws SetupError unless `count` more descriptors can be opened now.
/// Backends call it before creating their event base: libevent exits the
/// process (event_sock_err in evsig_init_) when a base cannot get the
/// descriptors it needs, instead of failing the call.
void requireFreeDescriptors(int count, const std::string& what);

namespace testing {
/// Test-only switch: while armed, every Connection::send made off the loop
/// thread also runs the backend's ConnectionBase::producerMutant(), a call
/// into the event library that the real send path never makes. A test arms
/// it to show that its proof would catch such a call. Costs one relaxed load
/// per send when disarmed.
void armProducerMutant(bool armed) noexcept;
[[nodiscard]] bool producerMutantArmed() noexcept;
}  // namespace testing

/// A connection whose output waits for the end of the loop's write scope
/// (LoopCore::noteWrite()).
class PendingWrite {
 public:
  /// Writes what the connection has queued.
  virtual void writePending() noexcept = 0;

 protected:
  ~PendingWrite() = default;
};

/// The backend-neutral half of a loop thread. A backend derives from it and
/// supplies the event library: how the loop polls the doorbell (wakeFd())
/// and calls onDoorbell(), how it re-runs drain() on a later turn without a
/// system call (activateDrain()), deferred work (defer()), and how it stops
/// (beginStop(), breakLoop()). Popped payloads go to their connection's
/// ConnectionBase::deliver().
///
/// Loop thread only unless marked "Thread-safe". Other threads reach the
/// loop only through post(), whose inbox is a lock-free MPSC queue; a
/// producer never calls into the event library and never takes a lock.
///
/// Lifetime: shared by the transport and by every connection of the loop, so
/// that a producer holding a ConnectionPtr can always push into the inbox,
/// even after stop(); what arrives after stop() is drained, cancelled, by the
/// producer itself (see drainAfterStop()).
class LoopCore : public std::enable_shared_from_this<LoopCore> {
 public:
  LoopCore(unsigned index, const TransportOptions& options, std::shared_ptr<ConnectionLimit> limit);
  virtual ~LoopCore();
  LoopCore(const LoopCore&) = delete;
  LoopCore& operator=(const LoopCore&) = delete;

  /// Queues a payload or a task. Thread-safe. Wakes the loop only when the
  /// inbox was empty and the loop is not draining it already: one doorbell
  /// write off the loop thread, activateDrain() on it.
  void post(detail::InboxNode* node) noexcept;
  /// Runs `fn` on the loop thread (with cancelled=false), or with
  /// cancelled=true if the loop stops first. Thread-safe.
  void runInLoop(std::function<void(bool cancelled)> fn);
  /// runInLoop and wait for it. Not on the loop thread.
  void runInLoopAndWait(std::function<void(bool cancelled)> fn);
  /// Asks the loop to close everything and exit (beginStop() on the loop).
  /// Thread-safe, idempotent.
  void requestStop() noexcept;

  /// Thread-safe.
  [[nodiscard]] bool inLoopThread() const noexcept;
  /// Fatal (with both thread ids and the loop's name) when not on the loop
  /// thread. Active unless NDEBUG; sanitizer builds keep it on.
  void assertInLoopThread(const char* where) const noexcept;
  [[nodiscard]] unsigned index() const noexcept { return index_; }
  [[nodiscard]] const std::string& name() const noexcept { return name_; }
  /// Thread-safe.
  [[nodiscard]] LoopStats stats() const noexcept { return counters_.snapshot(); }
  [[nodiscard]] LoopCounters& counters() noexcept { return counters_; }
  [[nodiscard]] const TransportOptions& options() const noexcept { return options_; }
  [[nodiscard]] ConnectionLimit& connectionLimit() const noexcept { return *limit_; }
  /// True once the inbox holds nothing pushed before this call. Loop thread
  /// (the consumer) only.
  [[nodiscard]] bool inboxEmpty() const noexcept { return inbox_.empty(); }

  // Loop thread only.
  [[nodiscard]] bool stopping() const noexcept { return stopping_; }
  /// Runs `fn` on a later turn of this loop, from a clean stack.
  virtual void defer(std::function<void()> fn) = 0;
  /// The loop's table of open connections: it holds a reference from open
  /// until the connection finishes.
  void addConnection(std::shared_ptr<ConnectionBase> conn);
  void removeConnection(std::uint64_t id);
  /// Keeps an object (a listener's acceptor) alive on this loop until
  /// release() or the loop stops; it is destroyed on the loop thread.
  void adopt(std::shared_ptr<void> resource);

  /// While a WriteScope is open (a drain batch, a socket's callback, deferred
  /// work), connections with new output note themselves here and write it
  /// when the outermost scope ends: one sendmsg per connection for all the
  /// replies of a batch, made straight away instead of after another trip
  /// through the poller, and no write event armed unless the socket is full.
  class WriteScope {
   public:
    explicit WriteScope(LoopCore& loop) noexcept : loop_(loop) { ++loop_.write_scope_depth_; }
    ~WriteScope() { loop_.closeWriteScope(); }
    WriteScope(const WriteScope&) = delete;
    WriteScope& operator=(const WriteScope&) = delete;

   private:
    LoopCore& loop_;
  };
  [[nodiscard]] bool inWriteScope() const noexcept { return write_scope_depth_ > 0; }
  /// `conn` writes its output when the current WriteScope ends. It must stay
  /// alive until then (connections are freed on a later turn, never inside
  /// the scope that noted them).
  void noteWrite(PendingWrite* conn) { pending_writes_.push_back(conn); }
  /// The loop's read buffer: every connection's read lands here first
  /// (StreamInput). Allocated on first use.
  [[nodiscard]] std::span<std::byte> readScratch();
  /// Destroys an adopted object now.
  void release(const void* resource) noexcept;

 protected:
  /// The backend's loop thread calls this first: it records the thread,
  /// names it, and blocks SIGPIPE on it (EPIPE instead, for this thread only).
  void enterLoopThread();
  void leaveLoopThread() noexcept;
  /// The doorbell is readable: clears it and drains.
  void onDoorbell();
  /// One bounded batch from the inbox; re-arms itself (activateDrain())
  /// while more is queued, so producers cannot starve socket I/O.
  void drain();
  /// After the loop thread has exited: from here on whoever pushes drains
  /// (cancelling) under a lock. Drains what is queued now.
  void markStopped() noexcept;
  [[nodiscard]] const WakeFd& wakeFd() const noexcept { return wake_fd_; }

  /// Run drain() again soon, from the loop, without a system call.
  virtual void activateDrain() noexcept = 0;
  /// Around each drain batch (the folly backend hands each connection's
  /// gathered output to its socket at the end).
  virtual void beginDrainBatch() noexcept {}
  virtual void endDrainBatch() noexcept {}
  /// The stop task arrived: the backend stops accepting, then calls
  /// closeAllConnections().
  virtual void beginStop() = 0;
  /// Closes every connection: gracefully, or (stop grace period over) by abort.
  void closeAllConnections(CloseMode mode);
  /// Leaves the loop once stopping and the table is empty (breakLoop()).
  void maybeFinishStop();
  virtual void breakLoop() noexcept = 0;
  /// Before the loop's objects go: drops what the table still holds (only
  /// when the loop never ran).
  void clearConnections() noexcept;
  /// Destroys every adopted object (stop: the listeners stop accepting).
  void releaseAll() noexcept;

 private:
  static void onStopTask(LoopTask* task, bool cancelled) noexcept;
  void dispatch(detail::InboxNode* node, bool cancelled) noexcept;
  /// pop() found a producer mid-push: give it a moment to link.
  PopStatus waitForLink(detail::InboxNode*& node) noexcept;
  void drainAfterStop() noexcept;

  const unsigned index_;
  const std::string name_;
  const TransportOptions options_;
  const std::shared_ptr<ConnectionLimit> limit_;
  WakeFd wake_fd_;

  MpscQueue<detail::InboxNode> inbox_;
  // True while the loop is inside (or has re-armed) a drain: producers then
  // skip the doorbell, because the drain re-checks the inbox before it
  // clears this flag.
  alignas(64) std::atomic<bool> draining_{false};
  // Read by every post(), written once: on a line of its own, away from
  // draining_, which the loop flips on every drain.
  alignas(64) std::atomic<bool> stopped_{false};  // set after the thread has exited
  std::atomic<bool> stop_requested_{false};
  std::recursive_mutex after_stop_mutex_;  // consumer role once stopped_
  std::atomic<std::thread::id> thread_id_{};
  MemberTask<LoopCore> stop_task_{this, &LoopCore::onStopTask};
  bool stopping_ = false;
  std::unordered_map<std::uint64_t, std::shared_ptr<ConnectionBase>> connections_;
  std::vector<std::shared_ptr<void>> resources_;
  void closeWriteScope() noexcept;
  unsigned write_scope_depth_ = 0;
  std::vector<PendingWrite*> pending_writes_;
  std::unique_ptr<std::byte[]> read_scratch_;

  LoopCounters counters_;
};

}  // namespace spool::core
