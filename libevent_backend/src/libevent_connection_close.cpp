// LibeventConnection's close state machine: graceful (flush, close_notify,
// shut the write side, linger for EOF) and abort, and the deferred finish.
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#include "buffer_events.h"
#include "libevent_connection.h"
#include "spool/log.h"

namespace spool::libevent {

void LibeventConnection::close(CloseMode mode, std::string_view reason) {
  if (close_requested_.exchange(true, std::memory_order_acq_rel)) {
    return;  // the first close decides
  }
  requested_mode_ = mode;
  requested_reason_.assign(reason);
  closing_.store(true, std::memory_order_release);
  if (loop_->inLoopThread() && loop_->inboxEmpty()) {
    closeInLoop(mode, mode == CloseMode::kAbort ? CloseCode::kLocalAbort : CloseCode::kLocalClose,
                std::move(requested_reason_));
    return;
  }
  // Ordered behind every payload queued before it, so a graceful close flushes them.
  loop_->post(&close_task_);
}

void LibeventConnection::onCloseTask(LoopTask* task, bool cancelled) noexcept {
  if (cancelled) {
    return;
  }
  auto* conn = static_cast<MemberTask<LibeventConnection>*>(task)->owner;
  const CloseMode mode = conn->requested_mode_;
  conn->closeInLoop(mode, mode == CloseMode::kAbort ? CloseCode::kLocalAbort : CloseCode::kLocalClose,
                    std::move(conn->requested_reason_));
}

void LibeventConnection::closeInLoop(CloseMode mode, CloseCode code, std::string detail) {
  loop_->assertInLoopThread("LibeventConnection::closeInLoop");
  commitStage();  // what was accepted before the close belongs to the flush
  closing_.store(true, std::memory_order_release);
  if (state_ == State::kIdle || state_ == State::kFinishing || state_ == State::kClosed) {
    return;
  }
  if (mode == CloseMode::kAbort) {
    abort_ = true;
    reason_ = CloseReason{code, 0, std::move(detail)};
    scheduleFinish();
    return;
  }
  if (state_ == State::kFlushing || state_ == State::kLingering) {
    return;  // a graceful close is already under way
  }
  reason_ = CloseReason{code, 0, std::move(detail)};
  if (state_ == State::kConnecting) {
    scheduleFinish();  // nothing was ever delivered to flush
    return;
  }
  state_ = State::kFlushing;
  if (evbuffer_get_length(bufferevent_get_output(bev_.get())) == 0) {
    startLinger();
    return;
  }
  // onWrite() continues once the output is empty. Bound the flush: without
  // write progress for linger_timeout the close becomes an abort. Re-enable
  // writing too: bufferevent_openssl stops writing when it sees EOF, and the
  // flush must either finish or fail with the socket's error.
  const timeval flush_limit = toTimeval(options_.linger_timeout);
  bufferevent_set_timeouts(bev_.get(), nullptr, &flush_limit);
  bufferevent_enable(bev_.get(), EV_WRITE);
}

void LibeventConnection::closeAfterQueued(CloseCode code, std::string detail) {
  closing_.store(true, std::memory_order_release);  // no new sends from here on
  if (loop_->inboxEmpty()) {
    closeInLoop(CloseMode::kGraceful, code, std::move(detail));
    return;
  }
  // Payloads accepted before now may still be in the inbox: close behind them.
  if (!std::exchange(queued_close_posted_, true)) {
    queued_close_reason_ = CloseReason{code, 0, std::move(detail)};
    loop_->post(&queued_close_task_);
  }
}

void LibeventConnection::onQueuedCloseTask(LoopTask* task, bool cancelled) noexcept {
  if (cancelled) {
    return;
  }
  auto* conn = static_cast<MemberTask<LibeventConnection>*>(task)->owner;
  CloseReason reason = std::move(conn->queued_close_reason_);
  conn->closeInLoop(CloseMode::kGraceful, reason.code, std::move(reason.detail));
}

void LibeventConnection::startLinger() {
  state_ = State::kLingering;
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
  const timeval linger = toTimeval(options_.linger_timeout);
  bufferevent_set_timeouts(bev_.get(), &linger, nullptr);  // (the write timeout goes)
  bufferevent_enable(bev_.get(), EV_READ);
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

void LibeventConnection::fail(CloseCode code, int sys_error, std::string detail) {
  closing_.store(true, std::memory_order_release);
  reason_ = CloseReason{code, sys_error, std::move(detail)};
  scheduleFinish();
}

void LibeventConnection::scheduleFinish() {
  if (state_ == State::kFinishing || state_ == State::kClosed) {
    return;
  }
  commitStage();
  state_ = State::kFinishing;
  closing_.store(true, std::memory_order_release);
  if (bev_) {
    bufferevent_disable(bev_.get(), EV_READ | EV_WRITE);
  }
  // Never free the bufferevent or call onClose from inside its own callbacks
  // or the handler's: do it on a later turn, from a clean stack.
  loop_->defer([self = self()] { self->finish(); });
}

void LibeventConnection::finish() {
  loop_->assertInLoopThread("LibeventConnection::finish");
  state_ = State::kClosed;
  watchdog_timer_.reset();
  if (std::exchange(holds_limit_slot_, false)) {
    loop_->connectionLimit().release();
  }
  if (bev_) {
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
    retire(unsent);
  }
  // Leave the loop's table first, so the loop's counters already agree when
  // the handler hears of the close. The deferred call holds a reference.
  loop_->removeConnection(id_);
  if (auto handler = std::move(handler_)) {
    handler->onClose(*this, reason_);
  }  // the handler is destroyed here, on the loop thread
}

}  // namespace spool::libevent
