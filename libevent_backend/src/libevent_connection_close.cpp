// LibeventConnection's part of closing: the flush, TLS close_notify, the
// half-close and linger, and freeing the bufferevent. The state machine
// itself is core::ConnectionBase's.
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#include "buffer_events.h"
#include "libevent_connection.h"

namespace spool::libevent {

void LibeventConnection::startFlush() {
  stopOwnReads();  // from here on the bufferevent reads, if anyone (startLinger)
  if (evbuffer_get_length(bufferevent_get_output(bev_.get())) == 0) {
    startLinger();
    return;
  }
  // onWrite() continues once the output is empty. Bound the flush: without
  // write progress for linger_timeout the close becomes an abort. Re-enable
  // writing too: bufferevent_openssl stops writing when it sees EOF, and the
  // flush must either finish or fail with the socket's error.
  const timeval flush_limit = toTimeval(options().linger_timeout);
  bufferevent_set_timeouts(bev_.get(), nullptr, &flush_limit);
  enableEvents(EV_WRITE);
}

void LibeventConnection::startLinger() {
  state_ = State::kLingering;
  stopOwnReads();
  if (tls_) {
    // close_notify first: the output is flushed, so the alert goes out
    // behind the last record, without blocking (the socket has room).
    SSL_shutdown(bufferevent_openssl_get_ssl(bev_.get()));
    ERR_clear_error();
  }
  ::shutdown(bufferevent_getfd(bev_.get()), SHUT_WR);
  if (peer_eof_) {
    scheduleFinish();
    return;
  }
  // Wait for the peer's EOF, discarding its input: closing a socket with
  // unread input makes the kernel send a reset, which could destroy the
  // very bytes just flushed before the peer reads them.
  const timeval linger = toTimeval(options().linger_timeout);
  bufferevent_set_timeouts(bev_.get(), &linger, nullptr);  // (the write timeout goes)
  enableEvents(EV_READ);
}

CloseReason LibeventConnection::describeFailure(CloseCode io_code, int sys_error) {
  if (tls_) {
    if (std::string detail = takeTlsErrors(bev_.get()); !detail.empty()) {
      return CloseReason{CloseCode::kTlsError, 0, std::move(detail)};
    }
    if (sys_error == 0 && state_ == State::kConnecting) {
      return CloseReason{CloseCode::kTlsError, 0, "handshake failed: connection closed by peer"};
    }
  }
  return CloseReason{io_code, sys_error, {}};
}

void LibeventConnection::stopIo() noexcept {
  stopOwnReads();
  if (bev_) {
    bufferevent_disable(bev_.get(), EV_READ | EV_WRITE);
  }
}

std::size_t LibeventConnection::releaseIo() noexcept {
  watchdog_timer_.reset();
  read_event_.reset();  // before the bufferevent closes the socket it watches
  if (!bev_) {
    return 0;
  }
  bufferevent_setcb(bev_.get(), nullptr, nullptr, nullptr, nullptr);
  evbuffer* output = bufferevent_get_output(bev_.get());
  evbuffer_remove_cb(output, &onOutputChangedCb, this);
  const std::size_t unsent = evbuffer_get_length(output);
  const evutil_socket_t fd = bufferevent_getfd(bev_.get());
  if (abort_ && fd >= 0) {
    const linger reset{1, 0};  // close() then sends RST and drops unsent bytes
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
  }
  bev_.reset();  // closes the socket; releases the referenced payloads it held
  return unsent;
}

}  // namespace spool::libevent
