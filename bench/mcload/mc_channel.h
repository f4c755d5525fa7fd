// A non-blocking client byte stream: plain TCP or TLS (OpenSSL).
#pragma once

#include <openssl/ssl.h>

#include <cstddef>
#include <memory>
#include <string>

namespace spool::bench {

/// read()/write() results below 0.
inline constexpr long kWouldBlock = -1;
inline constexpr long kFailed = -2;

class McChannel {
 public:
  virtual ~McChannel();
  [[nodiscard]] int fd() const noexcept { return fd_; }
  /// > 0: bytes read; 0: the peer closed; kWouldBlock; kFailed.
  virtual long read(char* data, std::size_t size) noexcept = 0;
  /// >= 0: bytes written (0: would block); kFailed.
  virtual long write(const char* data, std::size_t size) noexcept = 0;
  /// TLS may hold decrypted bytes that epoll cannot see.
  [[nodiscard]] virtual bool hasBuffered() const noexcept { return false; }

 protected:
  explicit McChannel(int fd) : fd_(fd) {}
  int fd_;
};

/// Shared TLS client settings; null ctx means plain TCP.
struct TlsClient {
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx{nullptr, &SSL_CTX_free};
  /// CA file to verify the server with; empty: no verification (benchmarks
  /// usually run against a self-signed certificate).
  static TlsClient create(const std::string& ca_file);
};

/// Connects (blocking), completes the TLS handshake when `tls.ctx` is set,
/// then switches the socket to non-blocking. Throws std::runtime_error.
std::unique_ptr<McChannel> connectChannel(const std::string& host, unsigned port, const TlsClient& tls);

}  // namespace spool::bench
