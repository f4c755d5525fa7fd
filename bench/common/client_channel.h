// A non-blocking client byte stream, plain TCP or TLS (OpenSSL), shared by
// the benchmark clients (mcload, stream_client).
#pragma once

#include <openssl/ssl.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "c_deleter.h"

namespace spool::bench {

/// read()/write()/handshake() results below 0.
inline constexpr long kWouldBlock = -1;
inline constexpr long kFailed = -2;

/// Owning OpenSSL handles (the bench's own; the backend's are private to it).
using SslCtxPtr = std::unique_ptr<SSL_CTX, CDeleter<&SSL_CTX_free>>;
using SslPtr = std::unique_ptr<SSL, CDeleter<&SSL_free>>;

/// What a channel that answered kWouldBlock waits for. TLS may need the
/// socket to be writable to go on reading (a handshake message, a key
/// update), and readable to go on writing.
enum class IoWait : std::uint8_t { kRead, kWrite };

/// One connection. Not thread-safe: one client thread drives it.
class ClientChannel {
 public:
  virtual ~ClientChannel();
  ClientChannel(const ClientChannel&) = delete;
  ClientChannel& operator=(const ClientChannel&) = delete;

  [[nodiscard]] int fd() const noexcept { return fd_; }
  /// Drives the TLS handshake on a non-blocking socket: 1 once done (at once
  /// for plain TCP), kWouldBlock (see waitingFor()) or kFailed (see error()).
  virtual long handshake() noexcept { return 1; }
  /// > 0: bytes read; 0: the peer closed; kWouldBlock; kFailed.
  virtual long read(char* data, std::size_t size) noexcept = 0;
  /// >= 0: bytes written (0: would block); kFailed.
  virtual long write(const char* data, std::size_t size) noexcept = 0;
  /// TLS may hold received bytes that epoll cannot see.
  [[nodiscard]] virtual bool hasBuffered() const noexcept { return false; }
  /// After kWouldBlock (or a 0-byte write): which readiness to poll for.
  [[nodiscard]] virtual IoWait waitingFor() const noexcept { return IoWait::kRead; }
  /// Why the last call failed (the drained OpenSSL error queue, errno).
  [[nodiscard]] const std::string& error() const noexcept { return error_; }

 protected:
  explicit ClientChannel(int fd) : fd_(fd) {}
  int fd_;
  std::string error_;
};

/// Shared TLS client settings; a null ctx means plain TCP.
struct TlsClient {
  SslCtxPtr ctx;
  /// `ca_file`: CA to verify the server with; empty: no verification
  /// (benchmarks usually run against a self-signed certificate).
  /// `read_ahead`: let OpenSSL read whatever the socket holds (up to
  /// 256 KiB) instead of one record at a time: fewer system calls for a
  /// client that only reads.
  static TlsClient create(const std::string& ca_file, bool read_ahead = false);
};

/// Connects a blocking TCP socket (TCP_NODELAY). Throws std::runtime_error.
int connectTcp(const std::string& host, unsigned port);

/// Makes `fd` (now owned by the channel) non-blocking and wraps it: plain,
/// or TLS in the client role with the handshake still to drive.
std::unique_ptr<ClientChannel> makeClientChannel(int fd, const TlsClient& tls);

/// Connects and completes the TLS handshake when `tls.ctx` is set (both
/// blocking), then returns the non-blocking channel. Throws std::runtime_error.
std::unique_ptr<ClientChannel> connectChannel(const std::string& host, unsigned port,
                                              const TlsClient& tls);

}  // namespace spool::bench
