// The backend-neutral half of a connection: the thread-safe send path, the
// send budget, the close state machine and deferred destruction.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "connection_watchdog.h"
#include "loop_core.h"
#include "loop_task.h"
#include "send_budget.h"
#include "socket_address.h"
#include "spool/connection.h"
#include "spool/handler.h"
#include "spool/transport.h"

namespace spool::core {

/// A Connection whose rules do not depend on the event library. A backend
/// derives from it and supplies the socket: appending a payload to the
/// output (deliver()), starting and ending a flush (startFlush(),
/// startLinger()), stopping and freeing its I/O objects (stopIo(),
/// releaseIo()) and the watchdog's timer.
///
/// Loop thread only unless marked "Thread-safe" (the Connection overrides
/// say which).
///
/// Lifetime. The loop's connection table holds a reference from open until
/// the connection is finished; producers hold references too. When the last
/// reference goes, the deleter does not free the object: it posts
/// `destroy_task_` into the loop's inbox. Pushes are ordered by their
/// exchange on the inbox tail, and every payload pointing at this object was
/// pushed by a holder of a reference before it let go, so the destroy task is
/// popped after all of them: queued payloads never carry a dangling pointer,
/// and sends need no reference-count traffic at all.
class ConnectionBase : public Connection {
 public:
  ~ConnectionBase() override;

  // Connection
  [[nodiscard]] SendResult send(Buffer&& payload) final;
  using Connection::send;
  void close(CloseMode mode, std::string_view reason) final;
  void runInLoop(std::function<void()> fn) final;
  [[nodiscard]] bool isOpen() const noexcept final;
  [[nodiscard]] std::uint64_t id() const noexcept final { return id_; }
  [[nodiscard]] const std::string& peerAddress() const noexcept final { return peer_; }
  [[nodiscard]] ConnectionCounters counters() const noexcept final;
  [[nodiscard]] unsigned loopIndex() const noexcept final { return core_->index(); }
  [[nodiscard]] bool inLoopThread() const noexcept final { return core_->inLoopThread(); }
  [[nodiscard]] std::optional<TlsPeerInfo> tlsPeer() const final;
  void pauseReading() final;
  void resumeReading() final;

  /// A payload popped from the inbox (or sent on the loop thread): appended
  /// to the output, or released when the connection is no longer open.
  virtual void deliver(detail::BufferBlock* block) noexcept = 0;
  /// Releases a payload that will never be written. Any thread (used after
  /// the loop stopped, under the loop's consumer lock).
  void dropQueued(detail::BufferBlock* block) noexcept;
  /// Starts closing: graceful flushes the output first; abort resets.
  void closeInLoop(CloseMode mode, CloseCode code, std::string detail);
  /// Starts an outgoing connection to `address`: startConnect() runs on the
  /// loop (or onClose with kTransportStopped if the loop stops first).
  /// Thread-safe.
  void connectTo(const SocketAddress& address);

 protected:
  enum class State : std::uint8_t {
    kIdle,        // created, nothing on the loop yet
    kConnecting,  // outgoing connect (or TLS handshake) in progress
    kOpen,
    kFlushing,    // graceful close: writing out what was accepted
    kLingering,   // write side shut; waiting for the peer's EOF (or a timeout)
    kFinishing,   // finish() is scheduled
    kClosed,
  };

  ConnectionBase(std::shared_ptr<LoopCore> loop, HandlerPtr handler, const ConnectionOptions& options,
                 std::string peer, bool tls);

  /// Wraps a new connection in the shared_ptr whose deleter defers the free
  /// to the loop (see the class comment).
  template <typename Derived>
  static std::shared_ptr<Derived> adopt(Derived* conn) {
    return std::shared_ptr<Derived>(conn, [](Derived* c) { c->postDestroy(); });
  }
  template <typename Derived>
  [[nodiscard]] std::shared_ptr<Derived> selfAs() {
    return std::static_pointer_cast<Derived>(shared_from_this());
  }

  // What the backend supplies.
  /// On the loop: open the outgoing connection to connectAddress().
  virtual void startConnect() {}
  /// Makes everything accepted so far part of the output (for a backend
  /// that stages copies; none does today).
  virtual void commitOutput() noexcept {}
  /// Graceful close: the output is being flushed; call startLinger() once it
  /// is empty (or scheduleFinish() when the flush fails).
  virtual void startFlush() = 0;
  /// The output is flushed: send TLS close_notify, shut the write side and
  /// wait for the peer's EOF (or the linger timeout).
  virtual void startLinger() = 0;
  /// Reading was paused (readingPaused() turned true): stop watching the
  /// socket for input. Only called while open.
  virtual void stopReading() noexcept = 0;
  /// Reading may go on again (readingPaused() turned false): watch the
  /// socket again. Only called while open; core hands over what was
  /// buffered before the pause on a later turn (deliverBufferedInput()).
  virtual void restartReading() = 0;
  /// Hands the handler the input the backend holds, if any, now (through
  /// deliverInput()): after a pause ends (it raises no new read event), and
  /// when the peer's EOF came while the send backlog held reading (what the
  /// peer sent before it must reach onData() before onPeerShutdown()).
  virtual void deliverBufferedInput() = 0;
  /// Stop reading and writing: finish() follows on a later turn.
  virtual void stopIo() noexcept = 0;
  /// Frees the socket (with a reset when abort_) and the event-library
  /// objects. @return accepted bytes still in the output, never to be written.
  virtual std::size_t releaseIo() noexcept = 0;
  /// Test-only (core::testing::armProducerMutant): what a broken send path
  /// would do on a producer thread, so that a proof such as the lock-count
  /// test can be shown to fail. Never called otherwise.
  virtual void producerMutant() noexcept {}
  /// A count that grows whenever the socket takes bytes: the stuck-queue
  /// check's measure of progress (default: bytes confirmed written).
  [[nodiscard]] virtual std::uint64_t writeProgress() const noexcept {
    return bytes_sent_.load(std::memory_order_relaxed);
  }

  // For the backend, on the loop thread.
  /// The kernel (or TLS) took `count` bytes of the output.
  void onBytesWritten(std::size_t count);
  /// Input arrived and was counted.
  void onBytesReceived(std::size_t count);
  /// The peer shut its sending side (EOF).
  void onPeerEof();
  /// A watchdog tick (every watchdog().period()).
  void onWatchdogTick();
  /// The socket failed: close with `code` at once, without flushing.
  void fail(CloseCode code, int sys_error, std::string detail);
  /// A graceful close decided on the loop (peer EOF, idle timeout) that still
  /// flushes every payload accepted before it, including those in the inbox.
  void closeAfterQueued(CloseCode code, std::string detail);
  void scheduleFinish();
  /// The connection is open (connect or TLS handshake done): onOpen().
  void markOpen();
  /// Hands input to the handler's onData() (open connections only), unless
  /// the send backlog holds reading (ConnectionOptions::
  /// pause_reading_while_backlogged): then the input stays buffered and
  /// reading stops until the backlog drains.
  void deliverInput(InputBuffer& input);
  /// The handler (pauseReading()) or the send backlog holds reading.
  [[nodiscard]] bool readingPaused() const noexcept { return paused_by_handler_ || paused_by_backlog_; }
  /// A connection that never opened: onClose() at once, without the table.
  void failBeforeOpen(CloseReason reason) noexcept;
  void setTlsPeer(TlsPeerInfo info) noexcept;
  [[nodiscard]] LoopCore& core() const noexcept { return *core_; }
  /// Only in startConnect() and after: the address connectTo() was given.
  [[nodiscard]] const SocketAddress& connectAddress() const noexcept { return outgoing_->address; }
  [[nodiscard]] const ConnectionOptions& options() const noexcept { return options_; }
  [[nodiscard]] const ConnectionWatchdog& watchdog() const noexcept { return watchdog_; }
  [[nodiscard]] bool isTls() const noexcept { return tls_; }
  [[nodiscard]] std::size_t backlog() const noexcept { return budget_.backlog(); }
  /// A payload left the inbox for the output: counted as sent.
  void countMessage() noexcept { bump(messages_sent_); }
  /// A payload that cannot be appended (out of memory): accounted, then fail().
  void failAppend(std::size_t size) noexcept;
  /// Accepted bytes that will never be written (a failed write): accounted.
  void discardOutput(std::size_t size) noexcept { budget_.retire(size); }

  /// Where the close state machine is. Only core changes it: a backend
  /// reports events through the calls above and below.
  [[nodiscard]] State state() const noexcept { return state_; }
  /// The peer shut its sending side.
  [[nodiscard]] bool peerEof() const noexcept { return peer_eof_; }
  /// The close resets the connection (abort, or a flush that timed out).
  [[nodiscard]] bool aborting() const noexcept { return abort_; }
  /// An outgoing connect or a TLS handshake started: onOpen() waits for markOpen().
  void markConnecting() noexcept { state_ = State::kConnecting; }
  /// The connection gives its ConnectionLimit slot back when it finishes.
  void holdLimitSlot() noexcept { holds_limit_slot_ = true; }
  /// The flush is done: startLinger() shuts the write side next and waits
  /// for the peer's EOF (none when peerEof() already).
  void markLingering() noexcept;
  /// The flush made no progress for linger_timeout: the close becomes a
  /// reset, and says so in its reason.
  void flushTimedOut();

  HandlerPtr handler_;

 private:
  State state_ = State::kIdle;
  CloseReason reason_;  // why finish() will say it closed
  bool abort_ = false;  // finish() resets instead of closing cleanly
  bool peer_eof_ = false;
  bool holds_limit_slot_ = false;

  static void onCloseTask(LoopTask* task, bool cancelled) noexcept;
  static void onQueuedCloseTask(LoopTask* task, bool cancelled) noexcept;
  static void onDestroyTask(LoopTask* task, bool cancelled) noexcept;
  static void onConnectTask(LoopTask* task, bool cancelled) noexcept;
  void postDestroy() noexcept;
  void notifyWritable();
  /// Pauses reading when the backlog is at the high watermark (and the
  /// option is on). @return true when reading is held by the backlog.
  bool holdReadingForBacklog();
  /// The backlog fell to `backlog_now`: lifts the backlog's hold at the low watermark.
  void releaseReadingHold(std::size_t backlog_now);
  /// Reading goes on: restartReading(), then the buffered input on a later turn.
  void resumeInput();
  void finish();
  /// Runs a handler callback; an exception it throws aborts this connection
  /// with kHandlerError (logged) instead of unwinding into the event library.
  /// @return false when it threw.
  template <typename Fn>
  bool callHandler(const char* callback, Fn&& fn) noexcept {
    try {
      fn();
      return true;
    } catch (const std::exception& e) {
      handlerFailed(callback, e.what());
    } catch (...) {
      handlerFailed(callback, "an exception that is not a std::exception");
    }
    return false;
  }
  void handlerFailed(const char* callback, std::string_view what) noexcept;
  /// onClose(), exactly once; an exception from it is logged and dropped.
  void notifyClose() noexcept;

  const std::shared_ptr<LoopCore> core_;
  const std::uint64_t id_;
  const std::string peer_;
  const ConnectionOptions options_;
  const bool tls_;

  // Loop-thread state.
  ConnectionWatchdog watchdog_;
  bool writable_scheduled_ = false;
  bool paused_by_handler_ = false;  // pauseReading()
  bool paused_by_backlog_ = false;  // the send backlog reached the high watermark
  bool queued_close_posted_ = false;
  CloseReason queued_close_reason_;
  // Written once, before tls_ready_ is set. Allocated then: a plain or idle
  // connection does not carry the certificate details' room.
  std::unique_ptr<const TlsPeerInfo> tls_peer_;
  std::atomic<bool> tls_ready_{false};

  SendBudget budget_;  // its two hot lines are aligned apart
  // Read by every send; written once or rarely.
  alignas(64) std::atomic<bool> closing_{false};         // sends now return kClosed
  std::atomic<bool> close_requested_{false};             // close_task_ was claimed
  std::atomic<std::uint64_t> refusals_{0};
  // Loop-only counters that change per write, per message or per read.
  alignas(64) std::atomic<std::uint64_t> bytes_sent_{0};
  std::atomic<std::uint64_t> messages_sent_{0};
  std::atomic<std::uint64_t> bytes_received_{0};

  CloseMode requested_mode_ = CloseMode::kGraceful;  // written by the claimant of close_task_
  std::string requested_reason_;
  MemberTask<ConnectionBase> close_task_{this, &ConnectionBase::onCloseTask};
  MemberTask<ConnectionBase> queued_close_task_{this, &ConnectionBase::onQueuedCloseTask};
  MemberTask<ConnectionBase> destroy_task_{this, &ConnectionBase::onDestroyTask};
  // Outgoing connections only (allocated by connectTo(), so an accepted
  // connection does not carry it): where to, and the task that starts it.
  struct Outgoing {
    explicit Outgoing(ConnectionBase* owner, const SocketAddress& to) : address(to), task{owner, &onConnectTask} {}
    SocketAddress address;
    std::shared_ptr<Connection> pending_self;  // keeps the object alive while `task` is queued
    MemberTask<ConnectionBase> task;
  };
  std::unique_ptr<Outgoing> outgoing_;
};

}  // namespace spool::core
