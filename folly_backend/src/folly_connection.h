// A Connection over one folly AsyncSocket (or AsyncSSLSocket), owned by one FollyLoop.
#pragma once

#include <folly/io/IOBuf.h>
#include <folly/io/IOBufQueue.h>
#include <folly/io/async/AsyncSSLSocket.h>
#include <folly/io/async/AsyncSocket.h>
#include <folly/io/async/AsyncTimeout.h>
#include <folly/io/async/SSLContext.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <string>

#include "connection_base.h"
#include "folly_loop.h"
#include "iobuf_input.h"
#include "socket_address.h"
#include "tls_context.h"

namespace spool::folly_backend {

/// A TlsContext and the folly SSLContext wrapped around its SSL_CTX: one per
/// listener, or per outgoing TLS connection.
struct FollyTls {
  explicit FollyTls(std::shared_ptr<const core::TlsContext> context);
  std::shared_ptr<const core::TlsContext> context;
  std::shared_ptr<folly::SSLContext> folly_context;
};

/// The folly half of a connection: the AsyncSocket, its read, write, connect
/// and handshake callbacks, and the output gathered into one IOBuf chain per
/// connection per batch (small payloads copied, large ones referenced,
/// zero-copy). The send path, budget, close state machine and lifetime are
/// core::ConnectionBase's (see its class comment).
///
/// Loop thread only unless marked "Thread-safe".
class FollyConnection final : public core::ConnectionBase,
                              private folly::AsyncReader::ReadCallback,
                              private folly::AsyncWriter::WriteCallback,
                              private folly::AsyncSocket::ConnectCallback,
                              private folly::AsyncSSLSocket::HandshakeCB {
 public:
  using Ptr = std::shared_ptr<FollyConnection>;

  /// Thread-safe. The object is not open until openAccepted()/connectTo().
  static Ptr create(std::shared_ptr<FollyLoop> loop, HandlerPtr handler, const ConnectionOptions& options,
                    std::string peer, std::shared_ptr<const FollyTls> tls = nullptr);
  ~FollyConnection() override;

  /// Takes over an accepted socket; onOpen() follows (after the TLS
  /// handshake, with TLS). `holds_limit_slot`: the connection gives its
  /// ConnectionLimit slot back when it finishes.
  void openAccepted(int fd, bool holds_limit_slot);

  // core::ConnectionBase
  void deliver(detail::BufferBlock* block) noexcept override;

  /// Hands the gathered output to the socket as one writeChain. FollyLoop
  /// calls it when the scope or loop iteration that gathered it ends.
  void flushOutput() noexcept;

 private:
  FollyConnection(std::shared_ptr<FollyLoop> loop, HandlerPtr handler, const ConnectionOptions& options,
                  std::string peer, std::shared_ptr<const FollyTls> tls);

  static void onReferenceDone(void* buf, void* block) noexcept;

  // core::ConnectionBase
  void stopReading() noexcept override;
  void restartReading() override;
  void deliverBufferedInput() override;
  void startFlush() override;
  void startLinger() override;
  void stopIo() noexcept override;
  std::size_t releaseIo() noexcept override;
  [[nodiscard]] std::uint64_t writeProgress() const noexcept override;
  void producerMutant() noexcept override;

  // folly::AsyncReader::ReadCallback
  void getReadBuffer(void** buffer, size_t* length) override;
  void readDataAvailable(size_t length) noexcept override;
  void readEOF() noexcept override;
  void readErr(const folly::AsyncSocketException& ex) noexcept override;
  // folly::AsyncWriter::WriteCallback
  void writeSuccess() noexcept override;
  void writeErr(size_t bytes_written, const folly::AsyncSocketException& ex) noexcept override;
  // folly::AsyncSocket::ConnectCallback
  void connectSuccess() noexcept override;
  void connectErr(const folly::AsyncSocketException& ex) noexcept override;
  // folly::AsyncSSLSocket::HandshakeCB
  void handshakeSuc(folly::AsyncSSLSocket* socket) noexcept override;
  void handshakeErr(folly::AsyncSSLSocket* socket, const folly::AsyncSocketException& ex) noexcept override;

  void attach(folly::AsyncSocket::UniquePtr socket);
  void onOpened();
  void startConnect() override;
  void onRead();
  /// Reading is wanted (open, or lingering for EOF) and not paused.
  void updateReading() noexcept;
  void appendCopy(const std::byte* data, std::size_t size);
  void noteOutput() noexcept;
  void onOutputDone() noexcept;
  /// A socket error as a close reason (TLS errors as kTlsError).
  [[nodiscard]] CloseReason describeError(CloseCode io_code, const folly::AsyncSocketException& ex) const;
  /// OpenSSL's errors from a TLS failure, and the peer certificate's
  /// verification result when it failed.
  [[nodiscard]] std::string tlsFailureDetail(const folly::AsyncSocketException& ex) const;
  void startWatchdog();

  FollyLoop* const loop_;  // kept alive by ConnectionBase
  const std::shared_ptr<const FollyTls> tls_;
  folly::AsyncSocket::UniquePtr socket_;
  folly::IOBufQueue input_{folly::IOBufQueue::cacheChainLength()};
  std::size_t read_want_ = 0;     // onData() waits for this many bytes (wantBytes)
  bool reading_ = false;          // our read callback is installed
  bool releasing_ = false;        // releaseIo(): ignore the socket's last callbacks
  // Output gathered since the last flush, and the writes handed to the
  // socket and not yet confirmed (their sizes, oldest first).
  std::unique_ptr<folly::IOBuf> output_;
  std::size_t output_bytes_ = 0;
  bool flush_noted_ = false;
  std::deque<std::size_t> in_flight_;
  std::unique_ptr<folly::AsyncTimeout> watchdog_timer_;  // only when the watchdog is enabled
  std::unique_ptr<folly::AsyncTimeout> linger_timer_;
  const std::size_t copy_threshold_;
};

}  // namespace spool::folly_backend
