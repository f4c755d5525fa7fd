#include "buffer_events.h"

#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/x509.h>

namespace spool::libevent {
namespace {

void closeIfOpen(evutil_socket_t fd) noexcept {
  if (fd >= 0) {
    evutil_closesocket(fd);
  }
}

void appendLine(std::string& out, const std::string& part) {
  if (!out.empty()) {
    out += "; ";
  }
  out += part;
}

}  // namespace

BufferEventPtr makeBufferEvent(event_base* base, evutil_socket_t fd, const TlsContext* tls,
                               int options, std::string& error) {
  if (tls == nullptr) {
    BufferEventPtr bev(bufferevent_socket_new(base, fd, options));
    if (!bev) {
      error = "bufferevent_socket_new failed";
      closeIfOpen(fd);
    }
    return bev;
  }
  SslPtr ssl = tls->newSsl(error);
  if (!ssl) {
    closeIfOpen(fd);
    return nullptr;
  }
  const auto role = tls->role() == TlsContext::Role::kServer ? BUFFEREVENT_SSL_ACCEPTING
                                                              : BUFFEREVENT_SSL_CONNECTING;
  // The bufferevent owns the SSL from here on, even if this call fails
  // (with CLOSE_ON_FREE libevent frees it), and SSL_write runs only inside
  // it, on its loop's thread.
  BufferEventPtr bev(bufferevent_openssl_socket_new(base, fd, ssl.release(), role, options));
  if (!bev) {
    error = "bufferevent_openssl_socket_new failed: " + core::drainOpenSslErrors();
    closeIfOpen(fd);
    return nullptr;
  }
  // Most clients just close the socket without a close_notify: report that
  // as an ordinary EOF rather than an error.
  bufferevent_openssl_set_allow_dirty_shutdown(bev.get(), 1);
  return bev;
}

std::string takeTlsErrors(bufferevent* bev) {
  std::string detail;
  // libevent moves OpenSSL's thread-local error queue into the bufferevent.
  while (const unsigned long code = bufferevent_get_openssl_error(bev)) {
    char text[256];
    ERR_error_string_n(code, text, sizeof(text));
    appendLine(detail, text);
  }
  if (const std::string failure = core::peerVerifyFailure(bufferevent_openssl_get_ssl(bev)); !failure.empty()) {
    appendLine(detail, failure);
  }
  return detail;
}

}  // namespace spool::libevent
