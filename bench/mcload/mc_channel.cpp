#include "mc_channel.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace spool::bench {
namespace {

std::string sslErrors() {
  std::string out;
  while (const unsigned long e = ERR_get_error()) {
    char text[256];
    ERR_error_string_n(e, text, sizeof(text));
    out += out.empty() ? text : std::string("; ") + text;
  }
  return out.empty() ? "unknown TLS error" : out;
}

class PlainChannel final : public McChannel {
 public:
  explicit PlainChannel(int fd) : McChannel(fd) {}
  long read(char* data, std::size_t size) noexcept override {
    const ssize_t n = ::recv(fd_, data, size, 0);
    if (n >= 0) {
      return n;
    }
    return errno == EAGAIN || errno == EINTR ? kWouldBlock : kFailed;
  }
  long write(const char* data, std::size_t size) noexcept override {
    const ssize_t n = ::send(fd_, data, size, MSG_NOSIGNAL);
    if (n >= 0) {
      return n;
    }
    return errno == EAGAIN || errno == EINTR ? 0 : kFailed;
  }
};

class TlsChannel final : public McChannel {
 public:
  TlsChannel(int fd, SSL* ssl) : McChannel(fd), ssl_(ssl, &SSL_free) {}
  long read(char* data, std::size_t size) noexcept override {
    const int n = SSL_read(ssl_.get(), data, static_cast<int>(size));
    if (n > 0) {
      return n;
    }
    const int err = SSL_get_error(ssl_.get(), n);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
      return kWouldBlock;
    }
    return err == SSL_ERROR_ZERO_RETURN ? 0 : kFailed;
  }
  long write(const char* data, std::size_t size) noexcept override {
    const int n = SSL_write(ssl_.get(), data, static_cast<int>(size));
    if (n > 0) {
      return n;
    }
    const int err = SSL_get_error(ssl_.get(), n);
    return err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE ? 0 : kFailed;
  }
  bool hasBuffered() const noexcept override { return SSL_pending(ssl_.get()) > 0; }

 private:
  std::unique_ptr<SSL, decltype(&SSL_free)> ssl_;
};

}  // namespace

McChannel::~McChannel() { ::close(fd_); }

TlsClient TlsClient::create(const std::string& ca_file) {
  TlsClient tls;
  tls.ctx.reset(SSL_CTX_new(TLS_client_method()));
  if (!tls.ctx) {
    throw std::runtime_error("SSL_CTX_new: " + sslErrors());
  }
  SSL_CTX_set_mode(tls.ctx.get(), SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (!ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(tls.ctx.get(), ca_file.c_str(), nullptr) != 1) {
      throw std::runtime_error("cannot load CA file " + ca_file + ": " + sslErrors());
    }
    SSL_CTX_set_verify(tls.ctx.get(), SSL_VERIFY_PEER, nullptr);
  }
  return tls;
}

std::unique_ptr<McChannel> connectChannel(const std::string& host, unsigned port, const TlsClient& tls) {
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
  std::unique_ptr<McChannel> channel;
  if (tls.ctx) {
    SSL* ssl = SSL_new(tls.ctx.get());
    SSL_set_fd(ssl, fd);
    if (SSL_connect(ssl) != 1) {
      SSL_free(ssl);
      ::close(fd);
      throw std::runtime_error("TLS handshake with " + host + ":" + std::to_string(port) + " failed: " + sslErrors());
    }
    channel = std::make_unique<TlsChannel>(fd, ssl);
  } else {
    channel = std::make_unique<PlainChannel>(fd);
  }
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  return channel;
}

}  // namespace spool::bench
