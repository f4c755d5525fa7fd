#include "stream_connection.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <climits>

#include "spool/log.h"

namespace spool::core {
namespace {

// The largest TLS record's payload: what one SSL_write encrypts.
constexpr std::size_t kTlsRecordBytes = 16 << 10;
// Ciphertext encrypted ahead of the socket: beyond it, encrypting waits for
// the kernel to take some (so memory stays bounded by the send budget).
constexpr std::size_t kCipherAheadBytes = 64 << 10;
// iovecs per sendmsg: a batch of copy blocks and referenced payloads.
constexpr std::size_t kMaxIovecs = 64;
// Discarded input while lingering, per readiness event.
constexpr int kLingerReadsPerEvent = 4;

void setNoDelay(int fd) noexcept {
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
               sizeof(one));  // fails harmlessly on Unix sockets
}

bool wouldBlock(int error) noexcept {
  return error == EAGAIN || error == EWOULDBLOCK;
}

}  // namespace

StreamConnection::StreamConnection(std::shared_ptr<LoopCore> loop, HandlerPtr handler,
                                   const ConnectionOptions& options, std::string peer,
                                   std::shared_ptr<const TlsContext> tls)
    : ConnectionBase(loop, std::move(handler), options, std::move(peer), tls != nullptr),
      tls_context_(std::move(tls)),
      copy_threshold_(tls_context_ ? std::max(loop->options().copy_threshold, kTlsRecordBytes)
                                   : loop->options().copy_threshold) {}

StreamConnection::~StreamConnection() {
  // finish() closed the socket on the loop thread.
  assert(fd_ < 0 && "connection destroyed with its socket open");
}

// ---------------------------------------------------------------------------
// Opening

void StreamConnection::openAccepted(int fd, bool holds_limit_slot) {
  core().assertInLoopThread("StreamConnection::openAccepted");
  const LoopCore::WriteScope writes(core());  // what onOpen() sends goes out in one write
  if (holds_limit_slot) {
    holdLimitSlot();
  }
  fd_ = fd;
  connected_ = true;
  setNoDelay(fd_);
  // Reading is all an accepted connection watches, TLS handshake or not:
  // one epoll_ctl per accept.
  if (!watch(kRead)) {
    releaseIo();  // closes the socket
    failBeforeOpen(CloseReason{CloseCode::kIoError, errno, "cannot watch the socket"});
    return;
  }
  interest_ = kRead;
  core().addConnection(selfAs<StreamConnection>());
  startWatchdog();
  if (tls_context_) {
    markConnecting();  // onOpen() once the handshake completes
    onConnected();
    return;
  }
  markOpen();
}

void StreamConnection::startConnect() {
  const SocketAddress& to = connectAddress();
  fd_ = ::socket(to.get()->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0) {
    failBeforeOpen(CloseReason{CloseCode::kConnectFailed, errno, "cannot create a socket"});
    return;
  }
  markConnecting();
  core().addConnection(selfAs<StreamConnection>());
  startWatchdog();
  int result;
  do {
    result = ::connect(fd_, to.get(), static_cast<socklen_t>(to.length));
  } while (result != 0 && errno == EINTR);
  if (result != 0 && errno != EINPROGRESS) {
    fail(CloseCode::kConnectFailed, errno, {});
    return;
  }
  if (result == 0) {
    connected_ = true;
    onConnected();
    return;
  }
  updateInterest();  // the write event reports the connect's outcome
}

void StreamConnection::onConnected() {
  setNoDelay(fd_);
  if (!tls_context_) {
    markOpen();
    writeOutput();  // what was sent before the connection opened
    return;
  }
  std::string error;
  SslPtr ssl = tls_context_->newSsl(error);
  if (!ssl) {
    fail(CloseCode::kTlsError, 0, std::move(error));
    return;
  }
  tls_ = std::make_unique<TlsSession>(std::move(ssl), fd_,
                                      tls_context_->role() == TlsContext::Role::kServer);
  if (!tls_->start()) {
    fail(CloseCode::kTlsError, 0, "cannot attach TLS to the socket: " + tls_->errors());
    return;
  }
  continueHandshake();
}

void StreamConnection::continueHandshake() {
  const TlsSession::Status status = tls_->handshake();
  writeQueue(tls_->cipher());  // this flight of the handshake
  if (state() != State::kConnecting) {
    return;  // the write failed
  }
  switch (status) {
    case TlsSession::Status::kOk:
      bump(core().counters().tls_handshakes);
      setTlsPeer(describeTlsPeer(tls_->ssl()));
      markOpen();
      if (state() == State::kOpen) {
        writeOutput();  // sent before the handshake completed (outgoing connections)
        readInput();    // application data may have come with the last flight
      }
      break;
    case TlsSession::Status::kWantRead: updateInterest(); break;
    case TlsSession::Status::kEof:
      onPeerEof();  // core: counts a TLS failure and closes
      break;
    case TlsSession::Status::kError: failTls(true); break;
  }
}

void StreamConnection::failTls(bool handshaking) {
  std::string detail = tls_->errors();
  const int sys_error = tls_->sysError();
  if (handshaking) {
    bump(core().counters().tls_failures);
  }
  if (detail.empty() && sys_error != 0) {
    fail(handshaking ? CloseCode::kTlsError : CloseCode::kIoError, sys_error, {});
    return;
  }
  if (detail.empty()) {
    detail = handshaking ? "handshake failed: connection closed by peer" : "TLS failure";
  }
  fail(CloseCode::kTlsError, sys_error, std::move(detail));
}

// ---------------------------------------------------------------------------
// Readiness

void StreamConnection::onReady(bool readable, bool writable) {
  const LoopCore::WriteScope writes(core());
  if (state() == State::kConnecting) {
    if (!connected_) {
      int error = 0;
      socklen_t length = sizeof(error);
      if (::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &error, &length) != 0) {
        error = errno;
      }
      if (error != 0) {
        fail(CloseCode::kConnectFailed, error, {});
        return;
      }
      connected_ = true;
      onConnected();
    } else if (tls_) {
      write_blocked_ = false;
      continueHandshake();
    }
    return;
  }
  if (writable && fd_ >= 0) {
    write_blocked_ = false;
    if (state() == State::kLingering) {
      shutWriteSide();  // the rest of close_notify
    } else {
      writeOutput();
    }
  }
  if (readable) {
    if (state() == State::kLingering) {
      discardInput();
    } else {
      readInput();
    }
  }
  updateInterest();
}

void StreamConnection::updateInterest() noexcept {
  if (fd_ < 0) {
    return;
  }
  unsigned want = kNone;
  switch (state()) {
    case State::kConnecting:
      want = connected_ ? kRead : kWrite;  // TLS handshake, or the TCP connect
      break;
    case State::kOpen:
      if (!readingPaused() && !input_full_ && !peerEof()) {
        want |= kRead;
      }
      break;
    case State::kLingering: want = peerEof() ? kNone : kRead; break;
    default: break;
  }
  if (write_blocked_ && state() != State::kFinishing && state() != State::kClosed) {
    want |= kWrite;
  }
  if (want == interest_) {
    return;
  }
  if (!watch(want)) {
    interest_ = kNone;
    fail(CloseCode::kIoError, errno, "cannot watch the socket (event_add failed)");
    return;
  }
  interest_ = want;
}

// ---------------------------------------------------------------------------
// Reading

std::size_t StreamConnection::inputLimit() const noexcept {
  const std::size_t max_input = options().max_input_bytes;
  return max_input == 0 ? 0 : std::max(max_input, input_.wanted());
}

void StreamConnection::readInput() {
  // Plain TCP: one recv per readiness event (level-triggered: the poller
  // reports what is left). TLS: until OpenSSL wants more from the socket, as
  // it may hold records it read ahead.
  for (;;) {
    if (state() != State::kOpen || readingPaused() || peerEof() || fd_ < 0) {
      return;
    }
    const std::size_t limit = inputLimit();
    const std::size_t held = input_.size();
    if (limit != 0 && held >= limit) {
      input_full_ = true;  // the handler left that much unconsumed: TCP pushes back
      updateInterest();
      return;
    }
    const std::span<std::byte> space =
        input_.prepare(core().readScratch(), limit == 0 ? SIZE_MAX : limit - held);
    if (space.empty()) {
      (void)input_.settle();
      fail(CloseCode::kIoError, ENOMEM, "cannot allocate input memory");
      return;
    }
    ssize_t n;
    int error = 0;
    TlsSession::Status status = TlsSession::Status::kOk;
    if (tls_) {
      n = static_cast<ssize_t>(tls_->read(space.data(), space.size(), status));
    } else {
      do {
        n = ::recv(fd_, space.data(), space.size(), MSG_DONTWAIT);
      } while (n < 0 && errno == EINTR);
      error = errno;
    }
    if (n > 0) {
      input_.commit(static_cast<std::size_t>(n));
      onBytesReceived(static_cast<std::size_t>(n));
      handOverInput();
      if (tls_) {
        continue;
      }
      return;
    }
    if (!input_.settle()) {
      fail(CloseCode::kIoError, ENOMEM, "cannot keep the input");
      return;
    }
    if (tls_) {
      if (status == TlsSession::Status::kWantRead) {
        return;
      }
      if (status == TlsSession::Status::kError) {
        failTls(false);
        return;
      }
    } else if (n < 0) {
      if (!wouldBlock(error)) {
        failRead(error);
      }
      return;
    }
    onPeerEof();  // also delivers what a held backlog kept back
    updateInterest();
    return;
  }
}

void StreamConnection::failRead(int sys_error) {
  fail(CloseCode::kIoError, sys_error, {});
}

void StreamConnection::handOverInput() {
  if (state() == State::kOpen && handler_ && !readingPaused() && input_.size() >= input_.wanted()) {
    input_.resetWanted();
    deliverInput(input_);
  }
  if (state() != State::kOpen) {
    input_.release();  // closing: input is of no use to anyone
    return;
  }
  if (!input_.settle()) {
    fail(CloseCode::kIoError, ENOMEM, "cannot keep the input");
    return;
  }
  if (input_full_ && (inputLimit() == 0 || input_.size() < inputLimit())) {
    input_full_ = false;  // the handler made room: read again
    updateInterest();
  }
}

void StreamConnection::deliverBufferedInput() {
  if (input_.size() > 0) {
    handOverInput();
  }
  if (tls_ && tls_->hasPending()) {
    readInput();  // records OpenSSL read ahead raise no socket event
  }
}

void StreamConnection::discardInput() {
  const std::span<std::byte> scratch = core().readScratch();
  for (int i = 0; i < kLingerReadsPerEvent; ++i) {
    if (tls_) {
      // Through OpenSSL: the peer's close_notify is its EOF, and it may
      // already wait in what OpenSSL read ahead.
      TlsSession::Status status = TlsSession::Status::kOk;
      (void)tls_->read(scratch.data(), scratch.size(), status);
      if (status == TlsSession::Status::kOk) {
        continue;
      }
      if (status == TlsSession::Status::kWantRead) {
        return;
      }
      onPeerEof();
      if (status == TlsSession::Status::kError) {
        scheduleFinish();
      }
      return;
    }
    const ssize_t n = ::recv(fd_, scratch.data(), scratch.size(), MSG_DONTWAIT);
    if (n > 0) {
      continue;
    }
    if (n < 0 && (wouldBlock(errno) || errno == EINTR)) {
      return;
    }
    // EOF, or a reset: either way the peer is done with us.
    onPeerEof();
    if (n < 0) {
      scheduleFinish();
    }
    return;
  }
}

// ---------------------------------------------------------------------------
// Writing

void StreamConnection::deliver(detail::BufferBlock* block) noexcept {
  if (fd_ < 0 || (state() != State::kOpen && state() != State::kConnecting)) {
    dropQueued(block);
    return;
  }
  const std::size_t size = block->size;
  const std::size_t before = output_.size();
  if (!output_.append(block, copy_threshold_)) [[unlikely]] {
    failAppend(size - (output_.size() - before));  // what did get in is released with the output
    return;
  }
  countMessage();
  noteOutput();
}

void StreamConnection::noteOutput() noexcept {
  if (state() != State::kOpen || write_blocked_ || write_noted_) {
    // Before open, or closing: the state's own path writes. Blocked: the
    // write event will.
    return;
  }
  if (core().inWriteScope()) {
    write_noted_ = true;
    core().noteWrite(this);
    return;
  }
  writeOutput();
}

void StreamConnection::writePending() noexcept {
  write_noted_ = false;
  if (state() == State::kOpen && !write_blocked_) {
    bump(core().counters().eager_writes);
    writeOutput();
  }
}

bool StreamConnection::outputEmpty() const noexcept {
  return output_.empty() && (!tls_ || tls_->cipher().empty());
}

std::size_t StreamConnection::writeQueue(OutputQueue& queue) noexcept {
  if (queue.empty() || fd_ < 0) {
    return 0;
  }
  iovec vecs[kMaxIovecs];
  const std::size_t count = queue.gather(vecs, kMaxIovecs);
  std::size_t wanted = 0;
  for (std::size_t i = 0; i < count; ++i) {
    wanted += vecs[i].iov_len;
  }
  msghdr message{};
  message.msg_iov = vecs;
  message.msg_iovlen = count;
  ssize_t n;
  do {
    n = ::sendmsg(fd_, &message, MSG_NOSIGNAL | MSG_DONTWAIT);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (wouldBlock(errno)) {
      write_blocked_ = true;
      return 0;
    }
    const int error = errno;
    if (error == EPIPE || error == ECONNRESET) {
      fail(CloseCode::kPeerClosed, error, "peer went away while we were writing");
    } else {
      fail(CloseCode::kIoError, error, {});
    }
    return 0;
  }
  const auto written = static_cast<std::size_t>(n);
  queue.consume(written);
  if (written < wanted) {
    write_blocked_ = true;  // the kernel is full: the next write would be refused
  }
  return written;
}

bool StreamConnection::encryptOutput() noexcept {
  OutputQueue& cipher = tls_->cipher();
  std::size_t taken = 0;
  while (!output_.empty() && cipher.size() < kCipherAheadBytes) {
    const auto [data, length] = output_.front();
    const std::size_t n = std::min(length, kTlsRecordBytes);
    if (!tls_->write(data, n)) {
      if (taken > 0) {
        onBytesWritten(taken);
      }
      failTls(false);
      return false;
    }
    output_.consume(n);
    taken += n;
  }
  if (taken > 0) {
    onBytesWritten(taken);  // TLS took them: retired from the send budget
  }
  return true;
}

void StreamConnection::writeOutput() noexcept {
  if (fd_ < 0 || (state() != State::kOpen && state() != State::kFlushing)) {
    return;
  }
  std::size_t written = 0;
  while (!write_blocked_ && state() != State::kFinishing) {
    if (tls_) {
      if (!encryptOutput()) {
        return;
      }
      if (tls_->cipher().empty()) {
        break;
      }
      written += writeQueue(tls_->cipher());
      continue;
    }
    if (output_.empty()) {
      break;
    }
    const std::size_t n = writeQueue(output_);
    if (n > 0) {
      written += n;
      onBytesWritten(n);
    }
  }
  afterWrite(written);
}

void StreamConnection::afterWrite(std::size_t written) {
  if (state() == State::kFlushing) {
    if (outputEmpty()) {
      startLinger();
      return;
    }
    if (written > 0) {
      close_deadline_ = Clock::now() + options().linger_timeout;  // progress: the limit starts over
    }
  }
  updateInterest();
}

// ---------------------------------------------------------------------------
// Closing

void StreamConnection::startFlush() {
  if (outputEmpty()) {
    startLinger();
    return;
  }
  // Bound the flush: without write progress for linger_timeout the close
  // becomes an abort (onTimer()).
  close_deadline_ = Clock::now() + options().linger_timeout;
  armNextTimer();
  write_blocked_ = false;  // try now; the write event takes over if the kernel is full
  writeOutput();
}

void StreamConnection::startLinger() {
  markLingering();
  write_blocked_ = false;
  if (tls_) {
    tls_->shutdown();  // close_notify, behind the last record
  }
  // Wait for the peer's EOF, discarding its input: closing a socket with
  // unread input makes the kernel send a reset, which could destroy the
  // very bytes just flushed before the peer reads them.
  close_deadline_ = Clock::now() + options().linger_timeout;
  armNextTimer();
  shutWriteSide();
}

void StreamConnection::shutWriteSide() {
  if (tls_ && !tls_->cipher().empty()) {
    writeQueue(tls_->cipher());
    if (state() != State::kLingering) {
      return;  // the write failed
    }
    if (!tls_->cipher().empty()) {
      updateInterest();  // the socket is full: the rest of the alert waits for the write event
      return;
    }
  }
  write_blocked_ = false;
  if (!write_shut_) {
    write_shut_ = true;
    ::shutdown(fd_, SHUT_WR);
  }
  if (peerEof()) {
    scheduleFinish();
    return;
  }
  if (tls_) {
    discardInput();  // the peer's close_notify may be read already
    if (state() != State::kLingering) {
      return;
    }
  }
  updateInterest();
}

void StreamConnection::stopIo() noexcept {
  if (fd_ >= 0 && interest_ != kNone) {
    (void)watch(kNone);
    interest_ = kNone;
  }
  disarmTimer();
  watchdog_armed_ = false;
}

std::size_t StreamConnection::releaseIo() noexcept {
  stopIo();
  releaseEvents();
  tls_.reset();
  input_.release();
  if (fd_ >= 0) {
    if (aborting()) {
      const linger reset{1, 0};  // close() then sends RST and drops unsent bytes
      ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
    }
    ::close(fd_);
    fd_ = -1;
  }
  return output_.clear();
}

// ---------------------------------------------------------------------------
// Time

void StreamConnection::startWatchdog() noexcept {
  if (watchdog().enabled()) {
    watchdog_armed_ = true;
    next_tick_ = Clock::now() + watchdog().period();
    armNextTimer();
  }
}

void StreamConnection::armNextTimer() noexcept {
  Clock::time_point next = Clock::time_point::max();
  if (watchdog_armed_) {
    next = next_tick_;
  }
  if ((state() == State::kFlushing || state() == State::kLingering) &&
      close_deadline_ != Clock::time_point{}) {
    next = std::min(next, close_deadline_);
  }
  if (next == Clock::time_point::max()) {
    disarmTimer();
    return;
  }
  const auto after = std::chrono::ceil<std::chrono::milliseconds>(
      std::max(next - Clock::now(), Clock::duration{0}));
  if (!armTimer(after)) {
    fail(CloseCode::kIoError, errno, "cannot arm the connection's timer");
  }
}

void StreamConnection::onTimer() {
  const LoopCore::WriteScope writes(core());
  const Clock::time_point now = Clock::now();
  if ((state() == State::kFlushing || state() == State::kLingering) &&
      close_deadline_ != Clock::time_point{} && now >= close_deadline_) {
    if (state() == State::kFlushing) {
      flushTimedOut();
    } else {
      scheduleFinish();
    }
    return;
  }
  if (watchdog_armed_ && now >= next_tick_) {
    next_tick_ = now + watchdog().period();
    onWatchdogTick();
  }
  if (state() != State::kFinishing && state() != State::kClosed) {
    armNextTimer();
  }
}

}  // namespace spool::core
