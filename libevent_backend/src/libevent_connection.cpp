#include "libevent_connection.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cassert>
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "buffer_events.h"
#include "evbuffer_input.h"
#include "instrument_locks.h"
#include "spool/log.h"

namespace spool::libevent {
namespace {

// libevent's defaults (16 KiB per read and per write event) would cost one
// writev per 16 KiB; larger single writes let one writev take a whole batch.
constexpr ev_ssize_t kMaxSingleRead = 64 << 10;
constexpr ev_ssize_t kMaxSingleWrite = 1 << 20;
// evbuffer_read()'s own cap per call in libevent 2.1 (EVBUFFER_MAX_READ).
constexpr std::size_t kLibeventMaxRead = 4096;
// readRest()'s recv size: with the capped read before it, one read callback
// takes at most kMaxSingleRead, as bufferevent_set_max_single_read promises
// (bounds such as spoold's queued-input limit count on one read's worth).
// It also keeps the chain (header included, rounded up to a power of two by
// evbuffer) at 64 KiB: a 128 KiB chain is glibc's mmap threshold, and an
// munmap (a TLB shootdown on every core) per read.
constexpr std::size_t kReadRestBytes = static_cast<std::size_t>(kMaxSingleRead) - kLibeventMaxRead;
// The largest TLS record's payload.
constexpr std::size_t kTlsRecordBytes = 16 << 10;
constexpr std::size_t kCorkAbove = 2 * kTlsRecordBytes;

// CLOSE_ON_FREE: the bufferevent owns the socket and closes it when freed.
// No BEV_OPT_THREADSAFE: only the loop's thread ever touches a bufferevent;
// the lock-count test adds it (testing::instrumentEventLocks) to catch any other caller.
int bufferEventOptions() noexcept {
  return BEV_OPT_CLOSE_ON_FREE | (testing::eventLocksInstrumented() ? BEV_OPT_THREADSAFE : 0);
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
  return adopt(new LibeventConnection(std::move(loop), std::move(handler), options, std::move(peer),
                                      std::move(tls)));
}

LibeventConnection::LibeventConnection(std::shared_ptr<EventLoop> loop, HandlerPtr handler,
                                       const ConnectionOptions& options, std::string peer,
                                       std::shared_ptr<const TlsContext> tls)
    : ConnectionBase(loop, std::move(handler), options, std::move(peer), tls != nullptr),
      loop_(loop.get()),
      tls_(std::move(tls)),
      copy_threshold_(tls_ ? std::max<std::size_t>(loop_->options().copy_threshold, kTlsRecordBytes)
                           : loop_->options().copy_threshold) {}

LibeventConnection::~LibeventConnection() {
  // finish() freed the bufferevent on the loop thread; nothing here may touch libevent.
  assert(!bev_ && "connection destroyed while its bufferevent is alive");
}

// ---------------------------------------------------------------------------
// Connection

void LibeventConnection::stopReading() noexcept {
  if (!bev_) {
    return;
  }
  if (read_event_) {
    event_del(read_event_.get());
  } else {
    bufferevent_disable(bev_.get(), EV_READ);
  }
}

void LibeventConnection::restartReading() {
  if (!bev_) {
    return;
  }
  if (read_event_) {
    watchReads();
  } else {
    enableEvents(EV_READ);
  }
}

void LibeventConnection::deliverBufferedInput() {
  if (bev_ && evbuffer_get_length(bufferevent_get_input(bev_.get())) > 0) {
    handOverInput();
  }
}

void LibeventConnection::producerMutant() noexcept {
  // What event_active() or a thread-safe bufferevent would do: touch the
  // connection's event_base from the producer (its lock, when instrumented).
  timeval now{};
  event_base_gettimeofday_cached(loop_->base(), &now);
}

// ---------------------------------------------------------------------------
// Opening

bool LibeventConnection::attach(BufferEventPtr bev, short events) {
  bev_ = std::move(bev);
  bufferevent_setcb(bev_.get(), &onReadCb, &onWriteCb, &onEventCb, this);
  // Tells us how many bytes each write moved to the kernel: the send budget
  // and the writable-again notification hang off it.
  if (evbuffer_add_cb(bufferevent_get_output(bev_.get()), &onOutputChangedCb, this) == nullptr) {
    return false;
  }
  bufferevent_set_max_single_read(bev_.get(), kMaxSingleRead);
  bufferevent_set_max_single_write(bev_.get(), kMaxSingleWrite);
  applyReadWatermarks(0);
  return bufferevent_enable(bev_.get(), events) == 0 && startWatchdog();
}

void LibeventConnection::enableEvents(short what) noexcept {
  if (bufferevent_enable(bev_.get(), what) != 0) {
    fail(CloseCode::kIoError, errno, "cannot watch the socket (event_add failed)");
  }
}

void LibeventConnection::applyReadWatermarks(std::size_t want) {
  read_low_watermark_ = want;
  // The high watermark pauses reading (TCP pushes back on the peer) while the
  // handler leaves max_input_bytes unconsumed; a larger wanted frame wins.
  const std::size_t max_input = options().max_input_bytes;
  const std::size_t high = max_input == 0 ? 0 : std::max(max_input, want);
  read_high_watermark_ = high;
  bufferevent_setwatermark(bev_.get(), EV_READ, want, high);
}

bool LibeventConnection::startWatchdog() {
  if (!watchdog().enabled()) {
    return true;  // neither check is configured: no timer at all
  }
  watchdog_timer_.reset(event_new(loop_->base(), -1, EV_PERSIST, &onWatchdogCb, this));
  const timeval tv = toTimeval(watchdog().period());
  return watchdog_timer_ && event_add(watchdog_timer_.get(), &tv) == 0;
}

void LibeventConnection::onWatchdogCb(evutil_socket_t, short, void* ctx) {
  static_cast<LibeventConnection*>(ctx)->onWatchdogTick();
}

void LibeventConnection::openAccepted(evutil_socket_t fd, bool holds_limit_slot) {
  loop_->assertInLoopThread("LibeventConnection::openAccepted");
  holds_limit_slot_ = holds_limit_slot;
  setNoDelay(fd);
  std::string error;
  BufferEventPtr bev = makeBufferEvent(loop_->base(), fd, tls_.get(), bufferEventOptions(), error);
  if (!bev) {
    log(LogLevel::kError, "{}: cannot set up {}: {}", loop_->name(), peerAddress(), error);
    failBeforeOpen(CloseReason{tls_ ? CloseCode::kTlsError : CloseCode::kIoError, 0, error});
    return;
  }
  // A plain connection starts with its own read event only (readSocket; the
  // bufferevent gets no event): the write event is enabled when output is
  // left after an eager write (noteOutputAdded), so accepting costs one
  // epoll_ctl, not three (add read, add write, and idleWriteEvent's removal
  // after a wake-up for nothing). TLS reads through bufferevent_openssl and
  // needs both events for its handshake.
  if (!attach(std::move(bev), tls_ ? EV_READ | EV_WRITE : 0) || (!tls_ && !startOwnReads(fd))) {
    releaseIo();  // closes the socket
    failBeforeOpen(CloseReason{CloseCode::kIoError, ENOMEM, "cannot set up the connection's events"});
    return;
  }
  loop_->addConnection(selfAs<LibeventConnection>());
  if (tls_) {
    state_ = State::kConnecting;  // onOpen() once the handshake completes
    return;
  }
  state_ = State::kOpen;
  idleWriteEvent();
  markOpen();
}

void LibeventConnection::startConnect() {
  std::string error;
  BufferEventPtr bev = makeBufferEvent(loop_->base(), -1, tls_.get(), bufferEventOptions(), error);
  if (!bev) {
    failBeforeOpen(CloseReason{tls_ ? CloseCode::kTlsError : CloseCode::kConnectFailed, 0, error});
    return;
  }
  if (!attach(std::move(bev), EV_READ | EV_WRITE)) {  // the write event reports the connect
    releaseIo();
    failBeforeOpen(CloseReason{CloseCode::kConnectFailed, ENOMEM, "cannot set up the connection's events"});
    return;
  }
  state_ = State::kConnecting;
  loop_->addConnection(selfAs<LibeventConnection>());
  if (bufferevent_socket_connect(bev_.get(), connectAddress().get(),
                                 static_cast<int>(connectAddress().length)) != 0) {
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

void LibeventConnection::appendToOutput(detail::BufferBlock* block) noexcept {
  const std::size_t size = block->size;
  bool ok;
  if (size <= copy_threshold_) {
    // Small: copied. Inside a drain, into space reserved once per batch, so
    // libevent's buffer callbacks run once per connection per batch rather
    // than once per message.
    ok = loop_->inDrain() ? stageCopy(block->data, size)
                          : evbuffer_add(bufferevent_get_output(bev_.get()), block->data, size) == 0;
    detail::BufferBlock::destroy(block);
  } else {
    // Large: the output references the payload (freed once writev has taken
    // it or the buffer is freed), after the copies staged before it, to keep
    // their order.
    ok = commitStaged() && evbuffer_add_reference(bufferevent_get_output(bev_.get()), block->data, size,
                                                  &destroyReferencedBlock, block) == 0;
    if (!ok) {
      detail::BufferBlock::destroy(block);
    }
  }
  if (!ok) [[unlikely]] {
    failAppend(size);
    return;
  }
  countMessage();
}

bool LibeventConnection::stageCopy(const std::byte* data, std::size_t size) noexcept {
  bool opened = false;
  const bool ok = stage_.copy(bufferevent_get_output(bev_.get()), data, size, opened);
  if (opened) {
    loop_->noteStaged(this);  // commits when the drain batch ends
  }
  return ok;
}

bool LibeventConnection::commitStaged() noexcept {
  return !stage_.open() || stage_.commit(bufferevent_get_output(bev_.get()));
}

void LibeventConnection::commitStage() noexcept {
  if (!commitStaged()) [[unlikely]] {
    fail(CloseCode::kIoError, ENOMEM, "cannot append to the output buffer");
  }
}

void LibeventConnection::onOutputChangedCb(evbuffer*, const evbuffer_cb_info* info, void* ctx) {
  auto* conn = static_cast<LibeventConnection*>(ctx);
  if (info->n_deleted > 0) {
    conn->onBytesWritten(info->n_deleted);
  }
  if (info->n_added > 0) {
    conn->noteOutputAdded();
  }
  if (conn->tls_) {
    conn->adjustCork(evbuffer_get_length(bufferevent_get_output(conn->bev_.get())));
  }
}

// Bulk TLS output. bufferevent_openssl makes one SSL_write, so one write(2),
// per output chain: on a loopback socket with TCP_NODELAY each record was
// its own segment, pushed through the receiver's stack and waking it.
// While more than two records are pending the socket is corked (the kernel
// sends full segments) and OpenSSL keeps its write buffer between records
// instead of freeing and reallocating it per record
// (SSL_MODE_RELEASE_BUFFERS, which keeps idle connections small). Both are
// undone as soon as the output is empty, or the connection leaves kOpen, so
// a reply after a bulk transfer is never held back by the cork.
void LibeventConnection::adjustCork(std::size_t pending) noexcept {
  const bool want = state_ == State::kOpen && (corked_ ? pending > 0 : pending >= kCorkAbove);
  if (want == corked_) {
    return;
  }
  if (want) {
    bump(loop_->counters().tls_bulk_corks);
  }
  const int on = want ? 1 : 0;
  ::setsockopt(bufferevent_getfd(bev_.get()), IPPROTO_TCP, TCP_CORK, &on, sizeof(on));
  SSL* ssl = bufferevent_openssl_get_ssl(bev_.get());
  if (want) {
    SSL_clear_mode(ssl, SSL_MODE_RELEASE_BUFFERS);
  } else {
    SSL_set_mode(ssl, SSL_MODE_RELEASE_BUFFERS);
    (void)SSL_free_buffers(ssl);  // 0 while a record is half written or read: kept till done
  }
  corked_ = want;
}

void LibeventConnection::noteOutputAdded() noexcept {
  if (tls_ || state_ != State::kOpen || eager_write_noted_ || !bev_ ||
      (bufferevent_get_enabled(bev_.get()) & EV_WRITE) != 0) {
    return;  // TLS, closing, or the write event is on already
  }
  if (loop_->inWriteScope()) {
    eager_write_noted_ = true;
    loop_->noteEagerWrite(this);
  } else {
    enableEvents(EV_WRITE);
  }
}

void LibeventConnection::writeEagerly() noexcept {
  eager_write_noted_ = false;
  if (state_ != State::kOpen || !bev_ || (bufferevent_get_enabled(bev_.get()) & EV_WRITE) != 0) {
    return;  // a close turned the write event on for its flush, or it is on anyway
  }
  evbuffer* output = bufferevent_get_output(bev_.get());
  if (evbuffer_get_length(output) == 0) {
    return;
  }
  // One write, at most what one bufferevent write would take. The rest, a
  // full socket (EAGAIN) or an error go to the write event: the bufferevent
  // retries and reports the socket's error through onEvent as usual.
  // bufferevent_socket keeps the output's front frozen so that only its own
  // write may drain it; it thaws it around that write, and so do we.
  bump(loop_->counters().eager_writes);  // before the bytes can reach the peer
  evbuffer_unfreeze(output, 1);
  evbuffer_write_atmost(output, bufferevent_getfd(bev_.get()), kMaxSingleWrite);
  evbuffer_freeze(output, 1);
  if (evbuffer_get_length(output) > 0) {
    enableEvents(EV_WRITE);
  }
}

void LibeventConnection::idleWriteEvent() noexcept {
  if (!tls_ && state_ == State::kOpen && bev_ &&
      evbuffer_get_length(bufferevent_get_output(bev_.get())) == 0) {
    bufferevent_disable(bev_.get(), EV_WRITE);
  }
}

void LibeventConnection::onWriteCb(bufferevent*, void* ctx) {
  static_cast<LibeventConnection*>(ctx)->onWrite();
}

void LibeventConnection::onWrite() {
  // The output buffer is empty (write low watermark 0).
  if (state_ == State::kFlushing) {
    startLinger();
    return;
  }
  idleWriteEvent();
}

// ---------------------------------------------------------------------------
// Reading and events

void LibeventConnection::onReadCb(bufferevent*, void* ctx) {
  static_cast<LibeventConnection*>(ctx)->onRead();
}

void LibeventConnection::onRead() {
  evbuffer* input = bufferevent_get_input(bev_.get());
  if (evbuffer_get_length(input) >= input_seen_ + kLibeventMaxRead && state_ == State::kOpen &&
      !readingPaused()) {
    (void)readRest();  // the bufferevent's read hit libevent's cap
  }
  handOverInput();
}

bool LibeventConnection::startOwnReads(evutil_socket_t fd) {
  read_event_.reset(event_new(loop_->base(), fd, EV_READ | EV_PERSIST, &onSocketReadableCb, this));
  return read_event_ && event_add(read_event_.get(), nullptr) == 0;
}

void LibeventConnection::watchReads() noexcept {
  if (!peer_eof_ && event_add(read_event_.get(), nullptr) != 0) {
    fail(CloseCode::kIoError, errno, "cannot watch the socket (event_add failed)");
  }
}

void LibeventConnection::stopOwnReads() noexcept {
  if (read_event_) {
    event_del(read_event_.get());
  }
}

void LibeventConnection::onSocketReadableCb(evutil_socket_t, short, void* ctx) {
  static_cast<LibeventConnection*>(ctx)->readSocket();
}

// A plain connection's reads: one recv of up to kMaxSingleRead straight into
// the input buffer. bufferevent_socket's read would cost a FIONREAD ioctl
// and a readv capped at 4 KiB (libevent 2.1's evbuffer_read), and a recv
// more for anything past that: on spoold's unpipelined gets the ioctl alone
// was 7% of the server's samples. The bufferevent keeps everything else
// (writes, TLS, the linger's reads); this event is removed when the
// connection leaves kOpen, pauses, or sees EOF or an error, as the
// bufferevent's own read would be.
void LibeventConnection::readSocket() {
  if (state_ != State::kOpen || readingPaused() || !bev_) {
    stopOwnReads();
    return;
  }
  evbuffer* input = bufferevent_get_input(bev_.get());
  const std::size_t have = evbuffer_get_length(input);
  std::size_t room = static_cast<std::size_t>(kMaxSingleRead);
  if (read_high_watermark_ != 0) {
    if (have >= read_high_watermark_) {
      stopOwnReads();  // the handler left that much unconsumed: TCP pushes back
      input_full_ = true;
      return;
    }
    room = std::min(room, read_high_watermark_ - have);
  }
  int error = 0;
  const ssize_t n = recvIntoInput(room, error);
  if (n > 0) {
    handOverInput();
    return;
  }
  if (n < 0 && (error == EAGAIN || error == EWOULDBLOCK || error == EINTR)) {
    return;
  }
  stopOwnReads();
  errno = error;  // onEvent reads it, as after the bufferevent's own read
  onEvent(static_cast<short>(BEV_EVENT_READING | (n == 0 ? BEV_EVENT_EOF : BEV_EVENT_ERROR)));
}

void LibeventConnection::handOverInput() {
  evbuffer* input = bufferevent_get_input(bev_.get());
  std::size_t length = evbuffer_get_length(input);
  if (length > input_seen_) {
    onBytesReceived(length - input_seen_);
  }
  if (state_ != State::kOpen || !handler_ || readingPaused()) {
    if (state_ != State::kOpen) {
      evbuffer_drain(input, length);  // closing: input is of no use to anyone
    }
    input_seen_ = evbuffer_get_length(input);
    return;
  }
  if (read_event_ && length < read_low_watermark_) {
    input_seen_ = length;
    return;  // what the handler asked for has not all arrived (the bufferevent's low watermark)
  }
  EvbufferInput view(input);
  {
    // Responses the handler sends from here go out in one write when it
    // returns, not after another trip through epoll.
    const EventLoop::WriteScope writes(*loop_);
    deliverInput(view);
  }
  input_seen_ = evbuffer_get_length(input);
  const std::size_t want = view.wanted() > input_seen_ ? view.wanted() : 0;
  if (want != read_low_watermark_ && bev_) {
    applyReadWatermarks(want);
  }
  if (input_full_ && state_ == State::kOpen && !readingPaused() &&
      (read_high_watermark_ == 0 || input_seen_ < read_high_watermark_)) {
    input_full_ = false;  // the handler made room: read again
    watchReads();
  }
}

bool LibeventConnection::readRest() noexcept {
  // libevent 2.1's evbuffer_read() reads at most 4096 bytes per call
  // (EVBUFFER_MAX_READ, not configurable before 2.2), whatever the
  // bufferevent's max_single_read says: a pipelining client's 16 KiB burst
  // would take four read callbacks, four handler calls and four response
  // writes. When the bufferevent's read hit that cap, read the rest here
  // with one recv (plain TCP only; bufferevent_openssl reads for itself).
  if (tls_ || !bev_) {
    return false;
  }
  evbuffer* input = bufferevent_get_input(bev_.get());
  const std::size_t have = evbuffer_get_length(input);
  std::size_t room = kReadRestBytes;
  if (const std::size_t max_input = options().max_input_bytes; max_input != 0) {
    if (have >= max_input) {
      return false;
    }
    room = std::min(room, max_input - have);
  }
  int error = 0;
  return recvIntoInput(room, error) > 0;  // EAGAIN, EOF or an error: the bufferevent's next read sees them
}

ssize_t LibeventConnection::recvIntoInput(std::size_t room, int& error) noexcept {
  evbuffer* input = bufferevent_get_input(bev_.get());
  evbuffer_iovec space;
  ssize_t n = -1;
  evbuffer_unfreeze(input, 0);  // bufferevent_socket freezes the input's end between its reads
  if (evbuffer_reserve_space(input, static_cast<ev_ssize_t>(room), &space, 1) == 1) {
    n = ::recv(bufferevent_getfd(bev_.get()), space.iov_base, std::min(space.iov_len, room), MSG_DONTWAIT);
    error = errno;
    if (n > 0) {
      space.iov_len = static_cast<std::size_t>(n);
      evbuffer_commit_space(input, &space, 1);
    }
  } else {
    error = ENOMEM;
  }
  evbuffer_freeze(input, 0);
  return n;
}

void LibeventConnection::onEventCb(bufferevent*, short events, void* ctx) {
  static_cast<LibeventConnection*>(ctx)->onEvent(events);
}

void LibeventConnection::onEvent(short events) {
  if (events & BEV_EVENT_CONNECTED) {
    onConnected();
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
    if (tls_) {
      deferTlsEof();
    } else {
      onPeerEof();
    }
    return;
  }
  if (events & BEV_EVENT_TIMEOUT) {
    if (state_ == State::kFlushing) {
      abort_ = true;  // the peer does not take the rest: reset instead of waiting
      reason_.detail += reason_.detail.empty() ? "" : "; ";
      reason_.detail += fmt::format("output not flushed within {} ms", options().linger_timeout.count());
    }
    if (state_ == State::kFlushing || state_ == State::kLingering) {
      scheduleFinish();
    }
  }
}

// bufferevent_openssl reports the peer's close_notify (or its FIN) from
// inside its read, at a bad moment twice over: before the bytes that same
// read took from the records ahead of the alert are in the input buffer (its
// read callback delivers them right after), and after deleting both of the
// socket's events, the write event even while output waits, so that a flush
// under way would never end, nor time out. The EOF is therefore taken on the
// next turn, once those bytes are delivered, and a write still owed (a flush,
// or replies to a half-closed peer) gets its event back.
void LibeventConnection::deferTlsEof() {
  if (std::exchange(tls_eof_posted_, true)) {
    return;
  }
  loop_->defer([self = selfAs<LibeventConnection>()] { self->onTlsEof(); });
}

void LibeventConnection::onTlsEof() {
  tls_eof_posted_ = false;
  if (!bev_) {
    return;  // finished meanwhile
  }
  onPeerEof();
  if (bev_ && (state_ == State::kOpen || state_ == State::kFlushing) &&
      evbuffer_get_length(bufferevent_get_output(bev_.get())) > 0) {
    enableEvents(EV_WRITE);
  }
}

void LibeventConnection::onConnected() {
  if (state_ != State::kConnecting) {
    return;
  }
  setNoDelay(bufferevent_getfd(bev_.get()));
  if (tls_) {
    bump(loop_->counters().tls_handshakes);
    setTlsPeer(core::describeTlsPeer(bufferevent_openssl_get_ssl(bev_.get())));
  }
  state_ = State::kOpen;
  idleWriteEvent();
  markOpen();
}

}  // namespace spool::libevent
