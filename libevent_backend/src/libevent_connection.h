// A Connection over one bufferevent, owned by one EventLoop.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "connection_base.h"
#include "event_loop.h"
#include "handles.h"
#include "output_stage.h"
#include "socket_address.h"
#include "tls_context.h"

namespace spool::libevent {

using core::SocketAddress;
using core::TlsContext;

/// The libevent half of a connection: the bufferevent (plain, or
/// bufferevent_openssl for TLS), its callbacks, the output staging and the
/// eager write. The send path, budget, close state machine and lifetime are
/// core::ConnectionBase's (see its class comment).
///
/// Loop thread only unless marked "Thread-safe".
class LibeventConnection final : public core::ConnectionBase {
 public:
  using Ptr = std::shared_ptr<LibeventConnection>;

  /// Thread-safe. The object is not open until openAccepted()/connectTo().
  /// `tls`: the listener's or the connect call's context; null for plain TCP.
  static Ptr create(std::shared_ptr<EventLoop> loop, HandlerPtr handler,
                    const ConnectionOptions& options, std::string peer,
                    std::shared_ptr<const TlsContext> tls = nullptr);
  ~LibeventConnection() override;

  /// Takes over an accepted socket and calls onOpen(). `holds_limit_slot`:
  /// the connection gives its ConnectionLimit slot back when it finishes.
  void openAccepted(evutil_socket_t fd, bool holds_limit_slot);

  // core::ConnectionBase
  void deliver(detail::BufferBlock* block) noexcept override;

  /// Commits the small payloads staged during the current drain batch into the
  /// output buffer (one evbuffer commit, one round of its callbacks); fails
  /// the connection when libevent cannot take them (out of memory).
  void commitStage() noexcept;
  /// Writes the output straight to the socket (plain TCP, open); what the
  /// kernel does not take is left to the bufferevent's write event.
  /// EventLoop::WriteScope calls it once per scope for each connection that
  /// noteOutputAdded() recorded.
  void writeEagerly() noexcept;

 private:
  LibeventConnection(std::shared_ptr<EventLoop> loop, HandlerPtr handler,
                     const ConnectionOptions& options, std::string peer,
                     std::shared_ptr<const TlsContext> tls);

  static void onReadCb(bufferevent* bev, void* ctx);
  static void onWriteCb(bufferevent* bev, void* ctx);
  static void onEventCb(bufferevent* bev, short events, void* ctx);
  static void onOutputChangedCb(evbuffer* buffer, const evbuffer_cb_info* info, void* ctx);
  static void onWatchdogCb(evutil_socket_t fd, short what, void* ctx);

  // core::ConnectionBase
  void commitOutput() noexcept override { commitStage(); }
  void stopReading() noexcept override;
  void restartReading() override;
  void deliverBufferedInput() override;
  void startFlush() override;
  void startLinger() override;
  void stopIo() noexcept override;
  std::size_t releaseIo() noexcept override;
  void producerMutant() noexcept override;

  void appendToOutput(detail::BufferBlock* block) noexcept;
  /// Copies into the space reserved for this drain batch; false on ENOMEM.
  [[nodiscard]] bool stageCopy(const std::byte* data, std::size_t size) noexcept;
  /// commitStage() without the failing: false when libevent could not take them.
  [[nodiscard]] bool commitStaged() noexcept;
  /// Takes the bufferevent, sets up its callbacks and enables `events`;
  /// false when libevent could not (out of memory or descriptors).
  [[nodiscard]] bool attach(BufferEventPtr bev, short events);
  /// bufferevent_enable, failing the connection when libevent cannot.
  void enableEvents(short what) noexcept;
  /// Why the bufferevent failed: OpenSSL's errors if any, else errno.
  CloseReason describeFailure(CloseCode io_code, int sys_error);
  /// The bufferevent's read callback (TLS, outgoing connections, lingering).
  void onRead();
  /// Own read event of an accepted plain connection (readSocket).
  [[nodiscard]] bool startOwnReads(evutil_socket_t fd);
  static void onSocketReadableCb(evutil_socket_t fd, short what, void* ctx);
  void readSocket();
  /// Adds the own read event back (after a pause or a full input).
  void watchReads() noexcept;
  void stopOwnReads() noexcept;
  /// Counts new input and gives it to the handler (unless paused, closing,
  /// or short of the handler's wanted size).
  void handOverInput();
  /// After a bufferevent read that hit libevent's 4 KiB cap: one recv of up
  /// to kReadRestBytes more (plain TCP). @return true when it got bytes.
  bool readRest() noexcept;
  /// One recv of up to `room` bytes into space reserved at the end of the
  /// input (thawing its frozen end around it). @return recv's result;
  /// `error` is errno (ENOMEM when no space could be reserved).
  ssize_t recvIntoInput(std::size_t room, int& error) noexcept;
  void onWrite();
  void onEvent(short events);
  /// TLS: the peer's EOF, taken on the next turn (see deferTlsEof()).
  void deferTlsEof();
  void onTlsEof();
  void onConnected();
  /// Output was added. Plain connections keep the write event off while
  /// their output is empty (each on/off would be an epoll_ctl): inside a
  /// WriteScope the write happens when the scope ends, elsewhere the write
  /// event goes back on.
  void noteOutputAdded() noexcept;
  void adjustCork(std::size_t pending) noexcept;
  /// Turns the write event off when nothing waits to be written (plain, open).
  void idleWriteEvent() noexcept;
  void startConnect() override;
  [[nodiscard]] bool startWatchdog();
  void applyReadWatermarks(std::size_t want);

  EventLoop* const loop_;  // kept alive by ConnectionBase
  BufferEventPtr bev_;
  EventPtr watchdog_timer_;  // only when the watchdog is enabled
  EventPtr read_event_;      // accepted plain connections: their reads (readSocket)
  bool corked_ = false;
  bool eager_write_noted_ = false;  // in the loop's eager_writes_
  bool tls_eof_posted_ = false;     // an onTlsEof() is deferred
  std::size_t read_low_watermark_ = 0;
  std::size_t read_high_watermark_ = 0;  // 0: none
  bool input_full_ = false;              // own reads stopped at the high watermark
  std::size_t input_seen_ = 0;  // input bytes already counted as received
  const std::shared_ptr<const TlsContext> tls_;
  // Payloads up to this size are copied, larger ones referenced. With TLS it
  // is at least a full record: bufferevent_openssl calls SSL_write once per
  // buffer chain, so a referenced 1 KiB payload would go out as its own
  // record and its own write(); copies are coalesced into shared chains.
  const std::size_t copy_threshold_;
  OutputStage stage_{tls_ != nullptr};  // small payloads of the current drain batch (after tls_)
};

}  // namespace spool::libevent
