// A Connection over one bufferevent, owned by one EventLoop.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "connection_watchdog.h"
#include "event_loop.h"
#include "handles.h"
#include "output_stage.h"
#include "socket_address.h"
#include "tls_context.h"
#include "spool/connection.h"
#include "spool/handler.h"
#include "spool/transport.h"

namespace spool::libevent {

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
class LibeventConnection final : public Connection {
 public:
  using Ptr = std::shared_ptr<LibeventConnection>;

  /// Thread-safe. The object is not open until openAccepted()/connectTo().
  /// `tls`: the listener's or the connect call's context; null for plain TCP.
  static Ptr create(std::shared_ptr<EventLoop> loop, HandlerPtr handler,
                    const ConnectionOptions& options, std::string peer,
                    std::shared_ptr<const TlsContext> tls = nullptr);
  ~LibeventConnection() override;

  // Connection
  [[nodiscard]] SendResult send(Buffer&& payload) override;
  using Connection::send;
  void close(CloseMode mode, std::string_view reason) override;
  void runInLoop(std::function<void()> fn) override;
  [[nodiscard]] bool isOpen() const noexcept override;
  [[nodiscard]] std::uint64_t id() const noexcept override { return id_; }
  [[nodiscard]] const std::string& peerAddress() const noexcept override { return peer_; }
  [[nodiscard]] ConnectionCounters counters() const noexcept override;
  [[nodiscard]] unsigned loopIndex() const noexcept override { return loop_->index(); }
  [[nodiscard]] bool inLoopThread() const noexcept override { return loop_->inLoopThread(); }
  [[nodiscard]] std::optional<TlsPeerInfo> tlsPeer() const override;
  void pauseReading() override;
  void resumeReading() override;

  /// Takes over an accepted socket and calls onOpen(). `holds_limit_slot`:
  /// the connection gives its ConnectionLimit slot back when it finishes.
  void openAccepted(evutil_socket_t fd, bool holds_limit_slot);
  /// Starts an outgoing connection. Thread-safe: posts the work to the loop.
  void connectTo(const SocketAddress& address);

  /// A payload popped from the inbox: appended to the output, or released
  /// when the connection is no longer open.
  void deliver(detail::BufferBlock* block) noexcept;
  /// Releases a payload that will never be written. Any thread (used after
  /// the loop stopped, under the loop's consumer lock).
  void dropQueued(detail::BufferBlock* block) noexcept;
  /// Starts closing: graceful flushes the output first; abort resets.
  void closeInLoop(CloseMode mode, CloseCode code, std::string detail);
  /// Commits the small payloads staged during the current drain into the
  /// output buffer (one evbuffer commit, one round of its callbacks).
  void commitStage() noexcept;
  /// Writes the output straight to the socket (plain TCP, open); what the
  /// kernel does not take is left to the bufferevent's write event.
  /// EventLoop::WriteScope calls it once per scope for each connection that
  /// noteOutputAdded() recorded.
  void writeEagerly() noexcept;

 private:
  enum class State : std::uint8_t {
    kIdle,        // created, nothing on the loop yet
    kConnecting,  // outgoing connect in progress
    kOpen,
    kFlushing,    // graceful close: writing out what was accepted
    kLingering,   // write side shut; waiting for the peer's EOF (or a timeout)
    kFinishing,   // finish() is scheduled
    kClosed,
  };
  struct Deleter {
    void operator()(LibeventConnection* conn) const noexcept;
  };

  LibeventConnection(std::shared_ptr<EventLoop> loop, HandlerPtr handler,
                     const ConnectionOptions& options, std::string peer,
                     std::shared_ptr<const TlsContext> tls);

  static void onReadCb(bufferevent* bev, void* ctx);
  static void onWriteCb(bufferevent* bev, void* ctx);
  static void onEventCb(bufferevent* bev, short events, void* ctx);
  static void onOutputChangedCb(evbuffer* buffer, const evbuffer_cb_info* info, void* ctx);
  static void onReferenceDoneCb(const void* data, std::size_t size, void* ctx);
  static void onCloseTask(LoopTask* task, bool cancelled) noexcept;
  static void onQueuedCloseTask(LoopTask* task, bool cancelled) noexcept;
  static void onConnectTask(LoopTask* task, bool cancelled) noexcept;
  static void onDestroyTask(LoopTask* task, bool cancelled) noexcept;
  static void onWatchdogCb(evutil_socket_t fd, short what, void* ctx);

  [[nodiscard]] Ptr self() { return std::static_pointer_cast<LibeventConnection>(shared_from_this()); }
  /// Accounts `size` against the send budget. Thread-safe.
  [[nodiscard]] bool reserve(std::size_t size) noexcept;
  /// Accepted bytes not yet retired. Thread-safe (a snapshot).
  [[nodiscard]] std::size_t backlog(std::memory_order order = std::memory_order_relaxed) const noexcept;
  /// The loop (or the after-stop drainer) is done with `size` accepted bytes.
  std::size_t retire(std::size_t size) noexcept;
  void appendToOutput(detail::BufferBlock* block) noexcept;
  /// Copies into the space reserved for this drain batch; false on ENOMEM.
  [[nodiscard]] bool stageCopy(const std::byte* data, std::size_t size) noexcept;
  void attach(BufferEventPtr bev);
  /// Why the bufferevent failed: OpenSSL's errors if any, else errno.
  CloseReason describeFailure(CloseCode io_code, int sys_error);
  void onRead();
  /// After a bufferevent read that hit libevent's 4 KiB cap: one recv of up
  /// to kReadRestBytes more (plain TCP). @return true when it got bytes.
  bool readRest() noexcept;
  void onWrite();
  void onEvent(short events);
  void onBytesWritten(std::size_t count);
  /// Output was added. Plain connections keep the write event off while
  /// their output is empty (each on/off would be an epoll_ctl): inside a
  /// WriteScope the write happens when the scope ends, elsewhere the write
  /// event goes back on.
  void noteOutputAdded() noexcept;
  /// Turns the write event off when nothing waits to be written (plain, open).
  void idleWriteEvent() noexcept;
  void notifyWritable();
  void startLinger();
  void fail(CloseCode code, int sys_error, std::string detail);
  /// A graceful close decided on the loop (peer EOF, idle timeout) that still
  /// flushes every payload accepted before it, including those in the inbox.
  void closeAfterQueued(CloseCode code, std::string detail);
  void scheduleFinish();
  void finish();
  void startConnect();
  void startWatchdog();
  void onWatchdog();
  void applyReadWatermarks(std::size_t want);

  const std::shared_ptr<EventLoop> loop_;
  const std::uint64_t id_;
  std::string peer_;
  const ConnectionOptions options_;

  // Loop-thread state, kept off the cache line of the read-only fields
  // above, which every send reads.
  alignas(64) HandlerPtr handler_;
  BufferEventPtr bev_;
  ConnectionWatchdog watchdog_;
  EventPtr watchdog_timer_;  // only when the watchdog is enabled
  State state_ = State::kIdle;
  CloseReason reason_;       // why finish() will say it closed
  bool abort_ = false;       // finish() resets instead of closing cleanly
  bool peer_eof_ = false;
  bool reading_paused_ = false;
  bool writable_scheduled_ = false;
  bool eager_write_noted_ = false;  // in the loop's eager_writes_
  bool holds_limit_slot_ = false;
  std::size_t read_low_watermark_ = 0;
  std::size_t input_seen_ = 0;  // input bytes already counted as received
  OutputStage stage_;           // small payloads of the current drain batch
  SocketAddress connect_address_;
  const std::shared_ptr<const TlsContext> tls_;
  // Payloads up to this size are copied, larger ones referenced. With TLS it
  // is at least a full record: bufferevent_openssl calls SSL_write once per
  // buffer chain, so a referenced 1 KiB payload would go out as its own
  // record and its own write(); copies are coalesced into shared chains.
  const std::size_t copy_threshold_;
  std::optional<TlsPeerInfo> tls_peer_;  // written once, before tls_ready_ is set
  std::atomic<bool> tls_ready_{false};
  Ptr pending_self_;            // keeps the object alive while connect_task_ is queued

  // The send budget is split over two cache lines so that neither side's
  // hot read-modify-write bounces the other's line: producers add to
  // accepted_bytes_, the loop adds to retired_bytes_ (written to the kernel,
  // or dropped), and the backlog is the difference.
  // Producer-hot line: written by every send, read by the loop once per write.
  alignas(64) std::atomic<std::size_t> accepted_bytes_{0};
  std::atomic<bool> refused_{false};         // a send was refused; onWritable owed
  std::atomic<bool> closing_{false};         // sends now return kClosed
  std::atomic<bool> close_requested_{false}; // close_task_ was claimed
  std::atomic<std::uint64_t> refusals_{0};
  // Written by the loop once per write (or, after stop, by the one thread
  // that drains the inbox); read by every send, so nothing that changes per
  // message may share this line.
  alignas(64) std::atomic<std::size_t> retired_bytes_{0};
  std::atomic<std::uint64_t> bytes_sent_{0};
  // Loop-only counters that change per message or per read.
  alignas(64) std::atomic<std::uint64_t> messages_sent_{0};
  std::atomic<std::uint64_t> bytes_received_{0};

  CloseMode requested_mode_ = CloseMode::kGraceful;  // written by the claimant of close_task_
  std::string requested_reason_;

  MemberTask<LibeventConnection> close_task_{this, &LibeventConnection::onCloseTask};
  MemberTask<LibeventConnection> queued_close_task_{this, &LibeventConnection::onQueuedCloseTask};
  bool queued_close_posted_ = false;
  CloseReason queued_close_reason_;
  MemberTask<LibeventConnection> connect_task_{this, &LibeventConnection::onConnectTask};
  MemberTask<LibeventConnection> destroy_task_{this, &LibeventConnection::onDestroyTask};
};

}  // namespace spool::libevent
