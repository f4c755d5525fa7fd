#include "tls_session.h"

#include <sys/socket.h>

#include <cerrno>
#include <climits>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "tls_context.h"

namespace spool::core {
namespace {

const BIO_METHOD* socketMethod() {
  static const BIO_METHOD* const method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "spool socket");
    return m;
  }();
  return method;
}

}  // namespace

TlsSession::TlsSession(SslPtr ssl, int fd, bool server) noexcept
    : ssl_(std::move(ssl)), fd_(fd), server_(server) {}

TlsSession::~TlsSession() = default;  // the SSL frees its BIO

bool TlsSession::start() noexcept {
  static const bool methods_set = [] {
    auto* m = const_cast<BIO_METHOD*>(socketMethod());
    return m != nullptr && BIO_meth_set_read(m, &onBioRead) == 1 &&
           BIO_meth_set_write(m, &onBioWrite) == 1 && BIO_meth_set_ctrl(m, &onBioCtrl) == 1;
  }();
  if (!methods_set) {
    return false;
  }
  BIO* bio = BIO_new(socketMethod());
  if (bio == nullptr) {
    return false;
  }
  BIO_set_data(bio, this);
  BIO_set_init(bio, 1);
  SSL_set_bio(ssl_.get(), bio, bio);  // the SSL owns it now
  // Read-ahead: one recv takes every record the kernel holds, not one
  // record header and then its body. read() is called until it wants more,
  // so nothing read ahead is ever left behind unnoticed.
  SSL_set_read_ahead(ssl_.get(), 1);
  if (server_) {
    SSL_set_accept_state(ssl_.get());
  } else {
    SSL_set_connect_state(ssl_.get());
  }
  return true;
}

int TlsSession::onBioRead(BIO* bio, char* data, int size) {
  auto* self = static_cast<TlsSession*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  for (;;) {
    const ssize_t n = ::recv(self->fd_, data, static_cast<std::size_t>(size), MSG_DONTWAIT);
    if (n >= 0) {
      return static_cast<int>(n);  // 0: the peer's FIN
    }
    if (errno == EINTR) {
      continue;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      BIO_set_retry_read(bio);
    } else {
      self->sys_error_ = errno;
    }
    return -1;
  }
}

int TlsSession::onBioWrite(BIO* bio, const char* data, int size) {
  auto* self = static_cast<TlsSession*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  if (!self->cipher_.copy(data, static_cast<std::size_t>(size))) {
    self->write_failed_ = true;
    return -1;
  }
  return size;
}

long TlsSession::onBioCtrl(BIO*, int command, long, void*) {
  return command == BIO_CTRL_FLUSH ? 1 : 0;  // nothing is buffered in the BIO itself
}

TlsSession::Status TlsSession::classify(int result) noexcept {
  switch (SSL_get_error(ssl_.get(), result)) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:  // never from our BIO; waiting on input is safe
      return Status::kWantRead;
    case SSL_ERROR_ZERO_RETURN:
      return Status::kEof;  // close_notify, or a FIN (SSL_OP_IGNORE_UNEXPECTED_EOF)
    case SSL_ERROR_SYSCALL:
      return sys_error_ == 0 && ERR_peek_error() == 0 ? Status::kEof : Status::kError;
    default: return Status::kError;
  }
}

TlsSession::Status TlsSession::handshake() noexcept {
  ERR_clear_error();
  const int result = SSL_do_handshake(ssl_.get());
  return result == 1 ? Status::kOk : classify(result);
}

std::size_t TlsSession::read(void* dst, std::size_t size, Status& status) noexcept {
  ERR_clear_error();
  const int result =
      SSL_read(ssl_.get(), dst, static_cast<int>(std::min<std::size_t>(size, INT_MAX)));
  if (result > 0) {
    status = Status::kOk;
    return static_cast<std::size_t>(result);
  }
  status = classify(result);
  return 0;
}

bool TlsSession::write(const void* data, std::size_t size) noexcept {
  ERR_clear_error();
  return SSL_write(ssl_.get(), data, static_cast<int>(size)) == static_cast<int>(size) &&
         !write_failed_;
}

void TlsSession::shutdown() noexcept {
  ERR_clear_error();
  (void)SSL_shutdown(ssl_.get());
  ERR_clear_error();
}

bool TlsSession::hasPending() const noexcept {
  return SSL_has_pending(ssl_.get()) == 1;
}

std::string TlsSession::errors() {
  std::string detail = drainOpenSslErrors();
  if (std::string failure = peerVerifyFailure(ssl_.get()); !failure.empty()) {
    detail += detail.empty() ? "" : "; ";
    detail += failure;
  }
  return detail;
}

}  // namespace spool::core
