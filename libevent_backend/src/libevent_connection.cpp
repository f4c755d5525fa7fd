#include "libevent_connection.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cassert>
#include <algorithm>
#include <cerrno>

#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/x509.h>

#include "evbuffer_input.h"
#include "spool/log.h"

namespace spool::libevent {
namespace {

std::atomic<std::uint64_t> g_next_connection_id{1};

// libevent's defaults (16 KiB per read and per write event) would cost one
// writev per 16 KiB; larger single writes let one writev take a whole batch.
constexpr ev_ssize_t kMaxSingleRead = 64 << 10;
constexpr ev_ssize_t kMaxSingleWrite = 1 << 20;
timeval toTimeval(std::chrono::milliseconds ms) noexcept {
  return timeval{static_cast<time_t>(ms.count() / 1000),
                 static_cast<suseconds_t>((ms.count() % 1000) * 1000)};
}

// CLOSE_ON_FREE: the bufferevent owns the socket and closes it when freed.
// No BEV_OPT_THREADSAFE: only the loop's thread ever touches a bufferevent;
// the lock-count test adds it (instrument_event_locks) to catch any other caller.
int bufferEventOptions(const TransportOptions& options) noexcept {
  return BEV_OPT_CLOSE_ON_FREE | (options.instrument_event_locks ? BEV_OPT_THREADSAFE : 0);
}

void setNoDelay(evutil_socket_t fd) noexcept {
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

}  // namespace

LibeventConnection::Ptr LibeventConnection::create(std::shared_ptr<EventLoop> loop,
                                                   HandlerPtr handler,
                                                   const ConnectionOptions& options,
                                                   std::string peer,
                                                   std::shared_ptr<const TlsContext> tls) {
  return Ptr(new LibeventConnection(std::move(loop), std::move(handler), options, std::move(peer),
                                    std::move(tls)),
             Deleter{});
}

LibeventConnection::LibeventConnection(std::shared_ptr<EventLoop> loop, HandlerPtr handler,
                                       const ConnectionOptions& options, std::string peer,
                                       std::shared_ptr<const TlsContext> tls)
    : loop_(std::move(loop)),
      id_(g_next_connection_id.fetch_add(1, std::memory_order_relaxed)),
      peer_(std::move(peer)),
      options_(options),
      handler_(std::move(handler)),
      tls_(std::move(tls)) {}

LibeventConnection::~LibeventConnection() {
  // finish() freed the bufferevent on the loop thread; nothing here may touch libevent.
  assert(!bev_ && "connection destroyed while its bufferevent is alive");
}

void LibeventConnection::Deleter::operator()(LibeventConnection* conn) const noexcept {
  // Not a delete: the object must outlive every payload already queued for it
  // (see the class comment). Keep the loop alive across post(): after stop()
  // the destroy task can run, and free `conn`, inside it.
  const std::shared_ptr<EventLoop> loop = conn->loop_;
  loop->post(&conn->destroy_task_);
}

void LibeventConnection::onDestroyTask(LoopTask* task, bool /*cancelled*/) noexcept {
  delete static_cast<MemberTask<LibeventConnection>*>(task)->owner;
}

// ---------------------------------------------------------------------------
// Connection

SendResult LibeventConnection::send(Buffer&& payload) {
  if (closing_.load(std::memory_order_acquire)) {
    payload.reset();
    return SendResult::kClosed;
  }
  if (!payload) {
    return SendResult::kOk;  // nothing to send
  }
  if (!reserve(payload.size())) {
    refusals_.fetch_add(1, std::memory_order_relaxed);
    loop_->counters().backpressure_refusals.fetch_add(1, std::memory_order_relaxed);
    return SendResult::kBackpressure;
  }
  detail::BufferBlock* block = payload.release();
  block->target = this;
  // On the loop thread with nothing queued, nothing sent earlier can be
  // overtaken: skip the inbox. Otherwise queue behind what is there.
  if (loop_->inLoopThread() && loop_->inboxEmpty()) {
    bump(loop_->counters().messages_direct);
    deliver(block);
    return SendResult::kOk;
  }
  loop_->post(block);
  return SendResult::kOk;
}

bool LibeventConnection::reserve(std::size_t size) noexcept {
  // The common case is one relaxed fetch_add on a line only producers write:
  // accepted while the backlog before this send was under the high watermark.
  // A stale view of retired_bytes_ only overestimates the backlog.
  std::size_t accepted = accepted_bytes_.fetch_add(size, std::memory_order_relaxed);
  std::size_t retired = retired_bytes_.load(std::memory_order_relaxed);
  if (accepted - std::min(accepted, retired) < options_.send_high_watermark) [[likely]] {
    return true;
  }
  for (;;) {
    // Refused. Raise the flag before giving the bytes back (seq_cst
    // throughout): the loop retires written bytes, then reads the flag, so
    // either it sees the flag when the backlog reaches the low watermark, or
    // we see its retirement below and retry.
    refused_.store(true, std::memory_order_seq_cst);
    accepted = accepted_bytes_.fetch_sub(size, std::memory_order_seq_cst) - size;
    retired = retired_bytes_.load(std::memory_order_seq_cst);
    if (accepted - std::min(accepted, retired) > options_.send_low_watermark) {
      return false;  // the loop will announce onWritable() once it drains
    }
    // The loop drained past the low watermark while we raced with it and may
    // not have seen the flag: try again instead of waiting for a wake-up
    // that might never come.
    accepted = accepted_bytes_.fetch_add(size, std::memory_order_seq_cst);
    retired = retired_bytes_.load(std::memory_order_seq_cst);
    if (accepted - std::min(accepted, retired) < options_.send_high_watermark) {
      return true;
    }
  }
}

std::size_t LibeventConnection::backlog(std::memory_order order) const noexcept {
  const std::size_t retired = retired_bytes_.load(order);
  const std::size_t accepted = accepted_bytes_.load(order);
  return accepted - std::min(accepted, retired);
}

std::size_t LibeventConnection::retire(std::size_t size) noexcept {
  // seq_cst pairs with reserve(): retire, then look at accepted and the flag.
  const std::size_t retired = retired_bytes_.fetch_add(size, std::memory_order_seq_cst) + size;
  const std::size_t accepted = accepted_bytes_.load(std::memory_order_seq_cst);
  return accepted - std::min(accepted, retired);
}

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

bool LibeventConnection::isOpen() const noexcept {
  return !closing_.load(std::memory_order_acquire);
}

ConnectionCounters LibeventConnection::counters() const noexcept {
  ConnectionCounters c;
  c.bytes_received = bytes_received_.load(std::memory_order_relaxed);
  c.bytes_sent = bytes_sent_.load(std::memory_order_relaxed);
  c.messages_sent = messages_sent_.load(std::memory_order_relaxed);
  c.refusals = refusals_.load(std::memory_order_relaxed);
  c.backlog = backlog();
  return c;
}

std::optional<TlsPeerInfo> LibeventConnection::tlsPeer() const {
  // Written once on the loop thread before the flag; immutable afterwards.
  if (!tls_ready_.load(std::memory_order_acquire)) {
    return std::nullopt;
  }
  return tls_peer_;
}

void LibeventConnection::pauseReading() {
  loop_->assertInLoopThread("Connection::pauseReading");
  if (reading_paused_) {
    return;
  }
  reading_paused_ = true;
  if (bev_ && state_ == State::kOpen) {
    bufferevent_disable(bev_.get(), EV_READ);
  }
}

void LibeventConnection::resumeReading() {
  loop_->assertInLoopThread("Connection::resumeReading");
  if (!reading_paused_) {
    return;
  }
  reading_paused_ = false;
  if (!bev_ || state_ != State::kOpen) {
    return;
  }
  bufferevent_enable(bev_.get(), EV_READ);
  // Bytes that arrived before the pause raise no new read event: hand them
  // over on the next turn, from a clean stack.
  loop_->defer([self = self()] {
    if (self->state_ == State::kOpen && !self->reading_paused_ && self->bev_ &&
        evbuffer_get_length(bufferevent_get_input(self->bev_.get())) > 0) {
      self->onRead();
    }
  });
}

// ---------------------------------------------------------------------------
// Opening

void LibeventConnection::attach(BufferEventPtr bev) {
  bev_ = std::move(bev);
  bufferevent_setcb(bev_.get(), &onReadCb, &onWriteCb, &onEventCb, this);
  // Tells us how many bytes each write moved to the kernel: the send budget
  // and the writable-again notification hang off it.
  evbuffer_add_cb(bufferevent_get_output(bev_.get()), &onOutputChangedCb, this);
  bufferevent_set_max_single_read(bev_.get(), kMaxSingleRead);
  bufferevent_set_max_single_write(bev_.get(), kMaxSingleWrite);
  applyReadWatermarks(0);
  bufferevent_enable(bev_.get(), EV_READ | EV_WRITE);
  startWatchdog();
}

void LibeventConnection::applyReadWatermarks(std::size_t want) {
  read_low_watermark_ = want;
  // The high watermark pauses reading (TCP pushes back on the peer) while the
  // handler leaves max_input_bytes unconsumed; a larger wanted frame wins.
  const std::size_t high =
      options_.max_input_bytes == 0 ? 0 : std::max(options_.max_input_bytes, want);
  bufferevent_setwatermark(bev_.get(), EV_READ, want, high);
}

void LibeventConnection::startWatchdog() {
  using std::chrono::milliseconds;
  milliseconds shortest{0};
  for (const milliseconds limit : {options_.send_stuck_timeout, options_.idle_timeout}) {
    if (limit.count() > 0 && (shortest.count() == 0 || limit < shortest)) {
      shortest = limit;
    }
  }
  if (shortest.count() == 0) {
    return;  // neither check is enabled: no timer at all
  }
  // Ticking at a quarter of the limit fires within 25% of it.
  const milliseconds period = std::clamp(shortest / 4, milliseconds(5), milliseconds(1000));
  watchdog_.reset(event_new(loop_->base(), -1, EV_PERSIST, &onWatchdogCb, this));
  last_send_progress_ = last_activity_ = std::chrono::steady_clock::now();
  const timeval tv = toTimeval(period);
  event_add(watchdog_.get(), &tv);
}

void LibeventConnection::onWatchdogCb(evutil_socket_t, short, void* ctx) {
  static_cast<LibeventConnection*>(ctx)->onWatchdog();
}

void LibeventConnection::onWatchdog() {
  const auto now = std::chrono::steady_clock::now();
  const std::uint64_t sent = bytes_sent_.load(std::memory_order_relaxed);
  const std::uint64_t received = bytes_received_.load(std::memory_order_relaxed);
  const std::size_t backlog = this->backlog();
  if (sent != watched_sent_ || backlog == 0) {
    last_send_progress_ = now;
  }
  if (sent != watched_sent_ || received != watched_received_) {
    last_activity_ = now;
  }
  watched_sent_ = sent;
  watched_received_ = received;
  const auto stuck_for = std::chrono::duration_cast<std::chrono::milliseconds>(now - last_send_progress_);
  const auto idle_for = std::chrono::duration_cast<std::chrono::milliseconds>(now - last_activity_);
  if (options_.send_stuck_timeout.count() > 0 && stuck_for >= options_.send_stuck_timeout &&
      (state_ == State::kOpen || state_ == State::kFlushing)) {
    closeInLoop(CloseMode::kAbort, CloseCode::kSendQueueStuck,
                fmt::format("{} bytes queued, none written for {} ms", backlog, stuck_for.count()));
  } else if (options_.idle_timeout.count() > 0 && idle_for >= options_.idle_timeout &&
             state_ == State::kOpen) {
    closeAfterQueued(CloseCode::kIdleTimeout,
                     fmt::format("nothing received or sent for {} ms", idle_for.count()));
  }
}

void LibeventConnection::openAccepted(evutil_socket_t fd, bool holds_limit_slot) {
  loop_->assertInLoopThread("LibeventConnection::openAccepted");
  holds_limit_slot_ = holds_limit_slot;
  setNoDelay(fd);
  std::string error;
  BufferEventPtr bev = makeBufferEvent(fd, error);
  if (!bev) {
    log(LogLevel::kError, "{}: cannot set up {}: {}", loop_->name(), peer_, error);
    closing_.store(true, std::memory_order_release);
    state_ = State::kClosed;
    if (holds_limit_slot_) {
      loop_->connectionLimit().release();
    }
    return;
  }
  attach(std::move(bev));
  loop_->addConnection(self());
  if (tls_) {
    state_ = State::kConnecting;  // onOpen() once the handshake completes
    return;
  }
  state_ = State::kOpen;
  handler_->onOpen(*this);
}

BufferEventPtr LibeventConnection::makeBufferEvent(evutil_socket_t fd, std::string& error) {
  const int options = bufferEventOptions(loop_->options());
  if (!tls_) {
    BufferEventPtr bev(bufferevent_socket_new(loop_->base(), fd, options));
    if (!bev) {
      error = "bufferevent_socket_new failed";
      if (fd >= 0) {
        evutil_closesocket(fd);
      }
    }
    return bev;
  }
  SslPtr ssl = tls_->newSsl(error);
  if (!ssl) {
    if (fd >= 0) {
      evutil_closesocket(fd);
    }
    return nullptr;
  }
  const auto role = tls_->role() == TlsContext::Role::kServer ? BUFFEREVENT_SSL_ACCEPTING
                                                               : BUFFEREVENT_SSL_CONNECTING;
  // The bufferevent owns the SSL from here on, even if this call fails
  // (CLOSE_ON_FREE makes libevent free it), and SSL_write runs only inside
  // it, on this loop's thread.
  BufferEventPtr bev(bufferevent_openssl_socket_new(loop_->base(), fd, ssl.release(), role, options));
  if (!bev) {
    error = "bufferevent_openssl_socket_new failed: " + drainOpenSslErrors();
    if (fd >= 0) {
      evutil_closesocket(fd);
    }
    return nullptr;
  }
  // Most clients just close the socket without a close_notify: report that
  // as an ordinary EOF rather than an error.
  bufferevent_openssl_set_allow_dirty_shutdown(bev.get(), 1);
  return bev;
}

void LibeventConnection::connectTo(const SocketAddress& address) {
  connect_address_ = address;
  pending_self_ = self();  // the queued task must not outlive the object
  loop_->post(&connect_task_);
}

void LibeventConnection::onConnectTask(LoopTask* task, bool cancelled) noexcept {
  auto* conn = static_cast<MemberTask<LibeventConnection>*>(task)->owner;
  const Ptr keep = std::move(conn->pending_self_);
  if (cancelled || conn->loop_->stopping()) {
    conn->closing_.store(true, std::memory_order_release);
    conn->state_ = State::kClosed;
    if (auto handler = std::move(conn->handler_)) {
      handler->onClose(*conn, CloseReason{CloseCode::kTransportStopped, 0, "before the connection was made"});
    }
    return;
  }
  conn->startConnect();
}

void LibeventConnection::startConnect() {
  std::string error;
  BufferEventPtr bev = makeBufferEvent(-1, error);
  if (!bev) {
    closing_.store(true, std::memory_order_release);
    state_ = State::kClosed;
    if (auto handler = std::move(handler_)) {
      handler->onClose(*this, CloseReason{tls_ ? CloseCode::kTlsError : CloseCode::kConnectFailed, 0, error});
    }
    return;
  }
  attach(std::move(bev));
  state_ = State::kConnecting;
  loop_->addConnection(self());
  if (bufferevent_socket_connect(bev_.get(), connect_address_.get(),
                                 static_cast<int>(connect_address_.length)) != 0) {
    fail(CloseCode::kConnectFailed, EVUTIL_SOCKET_ERROR(), {});
  }
}

// ---------------------------------------------------------------------------
// Writing

void LibeventConnection::deliver(detail::BufferBlock* block) noexcept {
  if (bev_ && (state_ == State::kOpen || state_ == State::kConnecting)) {
    appendToOutput(block);
  } else {
    dropQueued(block);
  }
}

void LibeventConnection::dropQueued(detail::BufferBlock* block) noexcept {
  retire(block->size);
  detail::BufferBlock::destroy(block);
}

void LibeventConnection::appendToOutput(detail::BufferBlock* block) noexcept {
  evbuffer* output = bufferevent_get_output(bev_.get());
  const std::size_t size = block->size;
  int rc;
  if (size <= loop_->options().copy_threshold) {
    // Small: one memcpy into the output's tail chain beats a chain per message.
    rc = evbuffer_add(output, block->data, size);
    detail::BufferBlock::destroy(block);
  } else {
    // Large: the output references the payload; libevent calls
    // onReferenceDoneCb once writev has taken it or the buffer is freed.
    rc = evbuffer_add_reference(output, block->data, size, &onReferenceDoneCb, block);
    if (rc != 0) {
      detail::BufferBlock::destroy(block);
    }
  }
  if (rc != 0) [[unlikely]] {
    retire(size);
    fail(CloseCode::kIoError, ENOMEM, "cannot append to the output buffer");
    return;
  }
  bump(messages_sent_);
}

void LibeventConnection::onReferenceDoneCb(const void*, std::size_t, void* ctx) {
  detail::BufferBlock::destroy(static_cast<detail::BufferBlock*>(ctx));
}

void LibeventConnection::onOutputChangedCb(evbuffer*, const evbuffer_cb_info* info, void* ctx) {
  if (info->n_deleted > 0) {
    static_cast<LibeventConnection*>(ctx)->onBytesWritten(info->n_deleted);
  }
}

void LibeventConnection::onBytesWritten(std::size_t count) {
  bump(bytes_sent_, count);
  bump(loop_->counters().bytes_out, count);
  const std::size_t now = retire(count);
  if (now <= options_.send_low_watermark && !writable_scheduled_ &&
      refused_.load(std::memory_order_seq_cst)) {
    writable_scheduled_ = true;
    loop_->defer([self = self()] { self->notifyWritable(); });
  }
}

void LibeventConnection::notifyWritable() {
  writable_scheduled_ = false;
  if (state_ == State::kOpen && handler_ && refused_.exchange(false, std::memory_order_seq_cst)) {
    handler_->onWritable(*this);
  }
}

void LibeventConnection::onWriteCb(bufferevent*, void* ctx) {
  static_cast<LibeventConnection*>(ctx)->onWrite();
}

void LibeventConnection::onWrite() {
  // The output buffer is empty (write low watermark 0).
  if (state_ == State::kFlushing) {
    startLinger();
  }
}

// ---------------------------------------------------------------------------
// Reading and events

void LibeventConnection::onReadCb(bufferevent*, void* ctx) {
  static_cast<LibeventConnection*>(ctx)->onRead();
}

void LibeventConnection::onRead() {
  evbuffer* input = bufferevent_get_input(bev_.get());
  const std::size_t length = evbuffer_get_length(input);
  if (length > input_seen_) {
    bump(bytes_received_, length - input_seen_);
    bump(loop_->counters().bytes_in, length - input_seen_);
  }
  if (state_ != State::kOpen || !handler_ || reading_paused_) {
    if (state_ != State::kOpen) {
      evbuffer_drain(input, length);  // closing: input is of no use to anyone
    }
    input_seen_ = evbuffer_get_length(input);
    return;
  }
  EvbufferInput view(input);
  handler_->onData(*this, view);
  input_seen_ = evbuffer_get_length(input);
  const std::size_t want = view.wanted() > input_seen_ ? view.wanted() : 0;
  if (want != read_low_watermark_ && bev_) {
    applyReadWatermarks(want);
  }
}

void LibeventConnection::onEventCb(bufferevent*, short events, void* ctx) {
  static_cast<LibeventConnection*>(ctx)->onEvent(events);
}

void LibeventConnection::onEvent(short events) {
  if (events & BEV_EVENT_CONNECTED) {
    if (state_ == State::kConnecting) {
      state_ = State::kOpen;
      setNoDelay(bufferevent_getfd(bev_.get()));
      if (tls_) {
        bump(loop_->counters().tls_handshakes);
        tls_peer_ = describeTlsPeer(bufferevent_openssl_get_ssl(bev_.get()));
        tls_ready_.store(true, std::memory_order_release);
      }
      handler_->onOpen(*this);
    }
    return;
  }
  if (events & BEV_EVENT_ERROR) {
    const int error = EVUTIL_SOCKET_ERROR();
    const bool connecting = state_ == State::kConnecting;
    CloseReason reason = describeFailure(connecting ? CloseCode::kConnectFailed : CloseCode::kIoError, error);
    if (reason.code == CloseCode::kTlsError && connecting) {
      bump(loop_->counters().tls_failures);
    }
    fail(reason.code, reason.sys_error, std::move(reason.detail));
    return;
  }
  if ((events & BEV_EVENT_EOF) && (events & BEV_EVENT_WRITING)) {
    // bufferevent_openssl reports a write to a vanished peer (a "dirty
    // shutdown") as EOF while writing: nothing more can be delivered.
    peer_eof_ = true;
    fail(CloseCode::kPeerClosed, 0, "peer went away while we were writing");
    return;
  }
  if (events & BEV_EVENT_EOF) {
    peer_eof_ = true;
    if (state_ == State::kOpen) {
      if (handler_ && handler_->onPeerShutdown(*this)) {
        return;  // the handler keeps writing and will close
      }
      closeAfterQueued(CloseCode::kPeerClosed, {});
    } else if (state_ == State::kLingering) {
      scheduleFinish();
    }
    return;  // kFlushing: keep writing; startLinger() sees peer_eof_
  }
  if (events & BEV_EVENT_TIMEOUT) {
    if (state_ == State::kFlushing) {
      abort_ = true;  // the peer does not take the rest: reset instead of waiting
      reason_.detail += reason_.detail.empty() ? "" : "; ";
      reason_.detail += fmt::format("output not flushed within {} ms", options_.linger_timeout.count());
    }
    if (state_ == State::kFlushing || state_ == State::kLingering) {
      scheduleFinish();
    }
  }
}

// ---------------------------------------------------------------------------
// Closing

void LibeventConnection::closeInLoop(CloseMode mode, CloseCode code, std::string detail) {
  loop_->assertInLoopThread("LibeventConnection::closeInLoop");
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
    // libevent moves OpenSSL's error queue into the bufferevent: drain it.
    std::string detail;
    while (const unsigned long code = bufferevent_get_openssl_error(bev_.get())) {
      char text[256];
      ERR_error_string_n(code, text, sizeof(text));
      detail += detail.empty() ? "" : "; ";
      detail += text;
    }
    if (SSL* ssl = bufferevent_openssl_get_ssl(bev_.get());
        ssl != nullptr && SSL_get_verify_result(ssl) != X509_V_OK) {
      detail += detail.empty() ? "" : "; ";
      detail += "peer certificate: ";
      detail += X509_verify_cert_error_string(SSL_get_verify_result(ssl));
    }
    if (!detail.empty()) {
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
  watchdog_.reset();
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
