#include "client_channel.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <stdexcept>

namespace spool::bench {
namespace {

constexpr int kHandshakeTimeoutMs = 10'000;  // connectChannel's blocking handshake
constexpr std::size_t kReadAheadBytes = 256 << 10;

std::string sslErrors() {
  std::string out;
  while (const unsigned long e = ERR_get_error()) {
    char text[256];
    ERR_error_string_n(e, text, sizeof(text));
    out += out.empty() ? text : std::string("; ") + text;
  }
  return out;
}

class PlainChannel final : public ClientChannel {
 public:
  explicit PlainChannel(int fd) : ClientChannel(fd) {}
  long read(char* data, std::size_t size) noexcept override {
    const ssize_t n = ::recv(fd_, data, size, 0);
    if (n >= 0) {
      return n;
    }
    if (errno == EAGAIN || errno == EINTR) {
      wait_ = IoWait::kRead;
      return kWouldBlock;
    }
    error_ = std::strerror(errno);
    return kFailed;
  }
  long write(const char* data, std::size_t size) noexcept override {
    const ssize_t n = ::send(fd_, data, size, MSG_NOSIGNAL);
    if (n >= 0) {
      return n;
    }
    if (errno == EAGAIN || errno == EINTR) {
      wait_ = IoWait::kWrite;
      return 0;
    }
    error_ = std::strerror(errno);
    return kFailed;
  }
  IoWait waitingFor() const noexcept override { return wait_; }

 private:
  IoWait wait_ = IoWait::kRead;
};

/// OpenSSL on a non-blocking socket: every call may want the socket
/// readable or writable first, whatever its direction.
class TlsChannel final : public ClientChannel {
 public:
  TlsChannel(int fd, SslPtr ssl) : ClientChannel(fd), ssl_(std::move(ssl)) {}

  long handshake() noexcept override {
    const int n = SSL_connect(ssl_.get());
    if (n == 1) {
      return 1;
    }
    const long r = failure(n, "TLS handshake");
    if (r == 0) {
      error_ = "TLS handshake failed: the server closed the connection";
      return kFailed;
    }
    return r;
  }
  long read(char* data, std::size_t size) noexcept override {
    const int n =
        SSL_read(ssl_.get(), data, static_cast<int>(std::min<std::size_t>(size, INT32_MAX)));
    return n > 0 ? n : failure(n, "SSL_read");
  }
  long write(const char* data, std::size_t size) noexcept override {
    const int n =
        SSL_write(ssl_.get(), data, static_cast<int>(std::min<std::size_t>(size, INT32_MAX)));
    if (n > 0) {
      return n;
    }
    const long r = failure(n, "SSL_write");
    return r == kWouldBlock ? 0 : kFailed;
  }
  bool hasBuffered() const noexcept override { return SSL_has_pending(ssl_.get()) == 1; }
  IoWait waitingFor() const noexcept override { return wait_; }

 private:
  /// Classifies a call that returned `n` <= 0: kWouldBlock, 0 (the peer
  /// closed, with or without close_notify) or kFailed with error_ set.
  long failure(int n, const char* what) noexcept {
    const int err = SSL_get_error(ssl_.get(), n);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
      wait_ = err == SSL_ERROR_WANT_READ ? IoWait::kRead : IoWait::kWrite;
      return kWouldBlock;
    }
    if (err == SSL_ERROR_ZERO_RETURN) {
      return 0;
    }
    const int saved_errno = errno;
    error_ = std::string(what) + " failed: ";
    const std::string queue = sslErrors();
    if (!queue.empty()) {
      error_ += queue;
    } else if (err == SSL_ERROR_SYSCALL) {
      error_ += saved_errno != 0 ? std::strerror(saved_errno) : "connection closed";
    } else {
      error_ += "SSL_get_error " + std::to_string(err);
    }
    if (const long v = SSL_get_verify_result(ssl_.get()); v != X509_V_OK) {
      error_ += std::string(" (certificate: ") + X509_verify_cert_error_string(v) + ")";
    }
    return kFailed;
  }

  SslPtr ssl_;
  IoWait wait_ = IoWait::kRead;
};

}  // namespace

ClientChannel::~ClientChannel() {
  ::close(fd_);
}

TlsClient TlsClient::create(const std::string& ca_file, bool read_ahead) {
  TlsClient tls;
  tls.ctx.reset(SSL_CTX_new(TLS_client_method()));
  if (!tls.ctx) {
    throw std::runtime_error("SSL_CTX_new: " + sslErrors());
  }
  SSL_CTX_set_mode(tls.ctx.get(),
                   SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  // A peer that closes without close_notify reads as EOF, as on plain TCP.
  SSL_CTX_set_options(tls.ctx.get(), SSL_OP_IGNORE_UNEXPECTED_EOF);
  if (read_ahead) {
    SSL_CTX_set_read_ahead(tls.ctx.get(), 1);
    SSL_CTX_set_default_read_buffer_len(tls.ctx.get(), kReadAheadBytes);
  }
  if (!ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(tls.ctx.get(), ca_file.c_str(), nullptr) != 1) {
      throw std::runtime_error("cannot load CA file " + ca_file + ": " + sslErrors());
    }
    SSL_CTX_set_verify(tls.ctx.get(), SSL_VERIFY_PEER, nullptr);
  }
  return tls;
}

int connectTcp(const std::string& host, unsigned port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  if (inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) {
    throw std::runtime_error("not an IPv4 address: " + host);
  }
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    const std::string why = std::strerror(errno);
    if (fd >= 0) {
      ::close(fd);
    }
    throw std::runtime_error("cannot connect to " + host + ":" + std::to_string(port) + ": " + why);
  }
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

std::unique_ptr<ClientChannel> makeClientChannel(int fd, const TlsClient& tls) {
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  if (!tls.ctx) {
    return std::make_unique<PlainChannel>(fd);
  }
  SslPtr ssl(SSL_new(tls.ctx.get()));
  if (!ssl || SSL_set_fd(ssl.get(), fd) != 1) {
    ::close(fd);
    throw std::runtime_error("SSL_new: " + sslErrors());
  }
  SSL_set_connect_state(ssl.get());
  return std::make_unique<TlsChannel>(fd, std::move(ssl));
}

std::unique_ptr<ClientChannel> connectChannel(const std::string& host, unsigned port,
                                              const TlsClient& tls) {
  auto channel = makeClientChannel(connectTcp(host, port), tls);
  for (;;) {
    const long r = channel->handshake();
    if (r == 1) {
      return channel;
    }
    if (r == kFailed) {
      throw std::runtime_error("with " + host + ":" + std::to_string(port) + ": " +
                               channel->error());
    }
    pollfd p{channel->fd(),
             static_cast<short>(channel->waitingFor() == IoWait::kRead ? POLLIN : POLLOUT), 0};
    if (::poll(&p, 1, kHandshakeTimeoutMs) == 0) {
      throw std::runtime_error("TLS handshake with " + host + ":" + std::to_string(port) +
                               " timed out");
    }
  }
}

}  // namespace spool::bench
