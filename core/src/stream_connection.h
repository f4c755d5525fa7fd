// A connection whose bytes core moves itself: recv, sendmsg and TLS over a
// socket, with the backend only reporting readiness and timer expiry.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>

#include "connection_base.h"
#include "output_queue.h"
#include "stream_input.h"
#include "tls_context.h"
#include "tls_session.h"

namespace spool::core {

/// Everything a socket connection does, except waiting: reads into the
/// loop's scratch buffer (StreamInput), output queued once and written with
/// one sendmsg per connection per batch (OutputQueue, LoopCore::WriteScope),
/// TLS run by OpenSSL over those bytes (TlsSession), connect, the flush,
/// close_notify, the half-close and linger, and the close deadlines.
///
/// A backend derives from it and supplies four things (see
/// docs/backends.md): watch() (the socket's read and write interest),
/// armTimer()/disarmTimer() (one one-shot timer), releaseEvents(), and calls onReady() and
/// onTimer() when they fire. Loop thread only unless marked otherwise.
///
/// Writing: output is written when the loop's write scope ends, or at once
/// outside one. The write event is watched only while the kernel refused
/// bytes (EAGAIN, or a short write), so a steady exchange of requests and
/// replies arms nothing: zero epoll_ctl per batch.
class StreamConnection : public ConnectionBase, private PendingWrite {
 public:
  /// What the backend watches the socket for.
  enum Interest : unsigned { kNone = 0, kRead = 1, kWrite = 2 };

  /// Takes over an accepted socket (non-blocking), registers the connection
  /// and starts it: onOpen() now, or after the TLS handshake.
  /// `holds_limit_slot`: it gives its ConnectionLimit slot back when it finishes.
  void openAccepted(int fd, bool holds_limit_slot);

  // ConnectionBase
  void deliver(detail::BufferBlock* block) noexcept final;

 protected:
  /// `tls`: the listener's or the connect call's context; null for plain TCP.
  StreamConnection(std::shared_ptr<LoopCore> loop, HandlerPtr handler,
                   const ConnectionOptions& options, std::string peer,
                   std::shared_ptr<const TlsContext> tls);
  ~StreamConnection() override;

  // What the backend supplies.
  /// Watch fd() for `interest` (a mask of Interest; kNone: nothing) until
  /// called again. False when the event library refused.
  [[nodiscard]] virtual bool watch(unsigned interest) noexcept = 0;
  /// Call onTimer() once, `after` from now (replacing an armed timer).
  [[nodiscard]] virtual bool armTimer(std::chrono::milliseconds after) noexcept = 0;
  virtual void disarmTimer() noexcept = 0;
  /// The connection is finished: free the socket's event and the timer (the
  /// socket is closed right after).
  virtual void releaseEvents() noexcept = 0;

  // For the backend.
  /// The socket is ready for what watch() asked.
  void onReady(bool readable, bool writable);
  /// The timer armTimer() set fired.
  void onTimer();
  [[nodiscard]] int fd() const noexcept { return fd_; }
  /// What watch() was last asked for.
  [[nodiscard]] unsigned interest() const noexcept { return interest_; }

 private:
  using Clock = std::chrono::steady_clock;

  // ConnectionBase
  void startConnect() final;
  void startFlush() final;
  void startLinger() final;
  void stopReading() noexcept final { updateInterest(); }
  void restartReading() final { updateInterest(); }
  void deliverBufferedInput() final;
  void stopIo() noexcept final;
  std::size_t releaseIo() noexcept final;

  // PendingWrite
  void writePending() noexcept final;

  /// A connected socket: TCP_NODELAY, TLS set up, and the first turn.
  void onConnected();
  /// TLS: the handshake as far as it goes; opens the connection when done.
  void continueHandshake();
  /// Reads until the socket is empty, the input is full, or the handler
  /// paused; hands every read to the handler.
  void readInput();
  /// Lingering: reads and discards until the peer's EOF.
  void discardInput();
  /// Gives the handler what is buffered (when it is as much as it wanted).
  void handOverInput();
  /// The largest input to hold (0: no limit): max_input_bytes, or a larger
  /// frame the handler asked for.
  [[nodiscard]] std::size_t inputLimit() const noexcept;
  void noteOutput() noexcept;
  /// Writes as much as the kernel takes; plain and TLS.
  void writeOutput() noexcept;
  /// One sendmsg of `queue` (plain output, or TLS's ciphertext).
  /// @return bytes written; sets write_blocked_ on EAGAIN or a short write,
  /// fails the connection on an error.
  std::size_t writeQueue(OutputQueue& queue) noexcept;
  /// TLS: encrypts queued plaintext into records (one per up to 16 KiB).
  bool encryptOutput() noexcept;
  [[nodiscard]] bool outputEmpty() const noexcept;
  /// Lingering: writes what is left of close_notify, then shuts the write
  /// side (once) and waits for the peer's EOF.
  void shutWriteSide();
  /// The output is written: during a flush, the linger starts.
  void afterWrite(std::size_t written);
  void failRead(int sys_error);
  void failTls(bool handshaking);
  /// Watches what the state wants: reading while open and not paused,
  /// writing while the kernel refused output (or a connect is under way).
  void updateInterest() noexcept;
  /// Arms the timer for the nearer of the watchdog's tick and the close deadline.
  void armNextTimer() noexcept;
  void startWatchdog() noexcept;

  const std::shared_ptr<const TlsContext> tls_context_;
  std::unique_ptr<TlsSession> tls_;
  int fd_ = -1;
  unsigned interest_ = kNone;
  bool connected_ = false;      // TCP connected (accepted, or connect() completed)
  bool write_blocked_ = false;  // the kernel refused output: wait for the write event
  bool write_noted_ = false;    // in the loop's pending writes
  bool input_full_ = false;     // reading stopped at the input limit
  bool watchdog_armed_ = false;
  bool write_shut_ = false;      // shutdown(SHUT_WR) done
  StreamInput input_;
  OutputQueue output_;  // plaintext, not yet written (or encrypted)
  // Payloads up to this size are copied into the output's blocks, larger ones
  // referenced. With TLS, at least a record: each contiguous run of the
  // output is one SSL_write.
  const std::size_t copy_threshold_;
  Clock::time_point next_tick_{};       // the watchdog's next check
  Clock::time_point close_deadline_{};  // flushing or lingering: when to give up
};

}  // namespace spool::core
