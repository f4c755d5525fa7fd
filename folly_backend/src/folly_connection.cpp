#include "folly_connection.h"

#include <openssl/err.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cstring>

#include "spool/log.h"

namespace spool::folly_backend {
namespace {

// One read takes at most this much (as the libevent backend's
// max_single_read); AsyncSocket reads up to 16 times per readiness event.
constexpr std::size_t kMinReadBytes = 4096;
constexpr std::size_t kMaxReadBytes = 64 << 10;
// Copies of small payloads are gathered into buffers of this size.
constexpr std::size_t kCopyChunkBytes = 8192;
// The largest TLS record's payload: with TLS every payload up to it is
// copied, so that small payloads share records instead of one each.
constexpr std::size_t kTlsRecordBytes = 16 << 10;

}  // namespace

FollyTls::FollyTls(std::shared_ptr<const core::TlsContext> ctx)
    // Wraps (and takes a reference to) the same SSL_CTX: folly's
    // AsyncSSLSocket makes each connection's SSL from it.
    : context(std::move(ctx)), folly_context(std::make_shared<folly::SSLContext>(context->native())) {
  // The wrapping constructor leaves out what the default one sets up: the
  // runner that performs SSL_accept (inline, on the loop thread).
  folly_context->sslAcceptRunner(std::make_unique<folly::SSLAcceptRunner>());
}

FollyConnection::Ptr FollyConnection::create(std::shared_ptr<FollyLoop> loop, HandlerPtr handler,
                                             const ConnectionOptions& options, std::string peer,
                                             std::shared_ptr<const FollyTls> tls) {
  return adopt(new FollyConnection(std::move(loop), std::move(handler), options, std::move(peer), std::move(tls)));
}

FollyConnection::FollyConnection(std::shared_ptr<FollyLoop> loop, HandlerPtr handler,
                                 const ConnectionOptions& options, std::string peer,
                                 std::shared_ptr<const FollyTls> tls)
    : ConnectionBase(loop, std::move(handler), options, std::move(peer), tls != nullptr),
      loop_(loop.get()),
      tls_(std::move(tls)),
      copy_threshold_(tls_ ? std::max(loop_->options().copy_threshold, kTlsRecordBytes)
                           : loop_->options().copy_threshold) {}

FollyConnection::~FollyConnection() {
  // finish() freed the socket on the loop thread; nothing here may touch folly.
  assert(!socket_ && "connection destroyed while its socket is alive");
}

// ---------------------------------------------------------------------------
// Reading paused and resumed (core::ConnectionBase decides)

void FollyConnection::stopReading() noexcept { updateReading(); }

void FollyConnection::restartReading() { updateReading(); }

void FollyConnection::deliverBufferedInput() {
  if (!input_.empty()) {
    onRead();
  }
}

// ---------------------------------------------------------------------------
// Opening

void FollyConnection::attach(folly::AsyncSocket::UniquePtr socket) {
  socket_ = std::move(socket);
  startWatchdog();
}

void FollyConnection::startWatchdog() {
  if (!watchdog().enabled()) {
    return;  // neither check is configured: no timer at all
  }
  watchdog_timer_ = folly::AsyncTimeout::make(loop_->base(), [this]() noexcept {
    onWatchdogTick();
    if (state() != State::kFinishing && state() != State::kClosed) {
      watchdog_timer_->scheduleTimeout(watchdog().period());
    }
  });
  watchdog_timer_->scheduleTimeout(watchdog().period());
}

void FollyConnection::openAccepted(int fd, bool holds_limit_slot) {
  loop_->assertInLoopThread("FollyConnection::openAccepted");
  if (holds_limit_slot) {
    holdLimitSlot();
  }
  folly::AsyncSSLSocket* ssl = nullptr;
  try {
    const auto socket_fd = folly::NetworkSocket::fromFd(fd);
    if (tls_) {
      auto socket = folly::AsyncSSLSocket::newSocket(tls_->folly_context, &loop_->base(), socket_fd, true);
      ssl = socket.get();
      attach(std::move(socket));
    } else {
      attach(folly::AsyncSocket::newSocket(&loop_->base(), socket_fd));
    }
  } catch (const std::exception& e) {
    log(LogLevel::kError, "{}: cannot set up {}: {}", loop_->name(), peerAddress(), e.what());
    ::close(fd);
    failBeforeOpen(CloseReason{CloseCode::kIoError, 0, e.what()});
    return;
  }
  socket_->setNoDelay(true);
  markConnecting();
  loop_->addConnection(selfAs<FollyConnection>());
  if (ssl != nullptr) {
    ssl->sslAccept(this);  // onOpen() once the handshake completes
    return;
  }
  onOpened();
}

void FollyConnection::startConnect() {
  folly::SocketAddress address;
  try {
    address.setFromSockaddr(connectAddress().get(), connectAddress().length);
    if (tls_) {
      auto socket = folly::AsyncSSLSocket::newSocket(tls_->folly_context, &loop_->base());
      if (const std::string sni = tls_->context->sniName(); !sni.empty()) {
        socket->setServerName(sni);
      }
      attach(std::move(socket));
    } else {
      attach(folly::AsyncSocket::newSocket(&loop_->base()));
    }
  } catch (const std::exception& e) {
    failBeforeOpen(CloseReason{tls_ ? CloseCode::kTlsError : CloseCode::kConnectFailed, 0, e.what()});
    return;
  }
  markConnecting();
  loop_->addConnection(selfAs<FollyConnection>());
  // With TLS, connectSuccess() follows the handshake too.
  socket_->connect(this, address);
}

void FollyConnection::connectSuccess() noexcept {
  if (tls_) {
    bump(loop_->counters().tls_handshakes);
    setTlsPeer(core::describeTlsPeer(static_cast<folly::AsyncSSLSocket*>(socket_.get())->getSSL()));
  }
  onOpened();
}

void FollyConnection::connectErr(const folly::AsyncSocketException& ex) noexcept {
  if (releasing_) {
    return;  // our own close cancelled the connect
  }
  CloseReason reason = describeError(CloseCode::kConnectFailed, ex);
  if (reason.code == CloseCode::kTlsError) {
    bump(loop_->counters().tls_failures);
  }
  fail(reason.code, reason.sys_error, std::move(reason.detail));
}

void FollyConnection::handshakeSuc(folly::AsyncSSLSocket* socket) noexcept {
  bump(loop_->counters().tls_handshakes);
  setTlsPeer(core::describeTlsPeer(socket->getSSL()));
  onOpened();
}

void FollyConnection::handshakeErr(folly::AsyncSSLSocket*, const folly::AsyncSocketException& ex) noexcept {
  if (releasing_) {
    return;  // our own close ended the handshake (a timeout, stop())
  }
  bump(loop_->counters().tls_failures);
  fail(CloseCode::kTlsError, 0, tlsFailureDetail(ex));
}

void FollyConnection::onOpened() {
  if (state() != State::kConnecting) {
    return;
  }
  socket_->setNoDelay(true);
  markOpen();
  updateReading();
  if (output_) {
    noteOutput();  // sent while connecting
  }
}

// ---------------------------------------------------------------------------
// Writing

void FollyConnection::deliver(detail::BufferBlock* block) noexcept {
  if (!socket_ || (state() != State::kOpen && state() != State::kConnecting)) {
    dropQueued(block);
    return;
  }
  const std::size_t size = block->size;
  try {
    if (size <= copy_threshold_) {
      appendCopy(block->data, size);
      detail::BufferBlock::destroy(block);
    } else {
      // Referenced, zero-copy: the IOBuf frees the payload once the socket
      // has written it (or the chain is dropped).
      auto buf = folly::IOBuf::takeOwnership(const_cast<std::byte*>(block->data), size, &onReferenceDone, block);
      if (output_) {
        output_->prependChain(std::move(buf));
      } else {
        output_ = std::move(buf);
      }
    }
  } catch (const std::bad_alloc&) {
    failAppend(size);
    return;
  }
  output_bytes_ += size;
  countMessage();
  noteOutput();
}

void FollyConnection::onReferenceDone(void*, void* block) noexcept {
  detail::BufferBlock::destroy(static_cast<detail::BufferBlock*>(block));
}

void FollyConnection::appendCopy(const std::byte* data, std::size_t size) {
  folly::IOBuf* tail = output_ ? output_->prev() : nullptr;
  if (tail == nullptr || tail->isShared() || tail->tailroom() < size) {
    auto buf = folly::IOBuf::create(std::max(size, kCopyChunkBytes));
    tail = buf.get();
    if (output_) {
      output_->prependChain(std::move(buf));
    } else {
      output_ = std::move(buf);
    }
  }
  std::memcpy(tail->writableTail(), data, size);
  tail->append(size);
}

void FollyConnection::noteOutput() noexcept {
  if (!flush_noted_) {
    flush_noted_ = true;
    loop_->noteFlush(this);
  }
}

void FollyConnection::flushOutput() noexcept {
  flush_noted_ = false;
  if (!output_ || !socket_ || (state() != State::kOpen && state() != State::kFlushing)) {
    return;  // connecting: onOpened() notes it again
  }
  // Recorded before writeChain, which may confirm (or fail) the write at once.
  in_flight_.push_back(std::exchange(output_bytes_, 0));
  bump(loop_->counters().eager_writes);
  socket_->writeChain(this, std::move(output_));
}

void FollyConnection::writeSuccess() noexcept {
  if (releasing_ || in_flight_.empty()) {
    return;
  }
  const std::size_t size = in_flight_.front();
  in_flight_.pop_front();
  onBytesWritten(size);
  onOutputDone();
}

void FollyConnection::writeErr(size_t bytes_written, const folly::AsyncSocketException& ex) noexcept {
  if (releasing_ || in_flight_.empty()) {
    return;
  }
  const std::size_t size = in_flight_.front();
  in_flight_.pop_front();
  const std::size_t written = std::min(size, bytes_written);
  if (written > 0) {
    onBytesWritten(written);
  }
  discardOutput(size - written);
  if (state() == State::kFinishing || state() == State::kClosed) {
    return;  // the first failure already decided the reason
  }
  if (ex.getType() == folly::AsyncSocketException::TIMED_OUT && state() == State::kFlushing) {
    flushTimedOut();
    return;
  }
  const CloseReason reason = describeError(CloseCode::kIoError, ex);
  fail(reason.code, reason.sys_error, reason.detail);
}

void FollyConnection::onOutputDone() noexcept {
  if (state() == State::kFlushing && in_flight_.empty() && !output_) {
    startLinger();
  }
}

void FollyConnection::producerMutant() noexcept {
  // folly's own way of reaching a loop, from the producer thread.
  loop_->base().runInEventBaseThread([] {});
}

std::uint64_t FollyConnection::writeProgress() const noexcept {
  return socket_ ? socket_->getRawBytesWritten() : 0;
}

// ---------------------------------------------------------------------------
// Reading

void FollyConnection::updateReading() noexcept {
  if (!socket_ || releasing_) {
    return;
  }
  const std::size_t max_input = options().max_input_bytes;
  const bool over_limit = max_input != 0 && input_.chainLength() >= std::max(max_input, read_want_);
  // Open: read unless paused or over the input bound. Closing: read (and
  // discard) to see the peer's EOF.
  const bool want = (state() == State::kOpen && !readingPaused() && !over_limit) ||
                    state() == State::kFlushing || state() == State::kLingering;
  if (want != reading_) {
    reading_ = want;
    socket_->setReadCB(want ? this : nullptr);
  }
}

void FollyConnection::getReadBuffer(void** buffer, size_t* length) {
  const auto space = input_.preallocate(kMinReadBytes, kMaxReadBytes);
  *buffer = space.first;
  *length = std::min(space.second, kMaxReadBytes);
}

void FollyConnection::readDataAvailable(size_t length) noexcept {
  input_.postallocate(length);
  onBytesReceived(length);
  onRead();
}

void FollyConnection::onRead() {
  if (state() != State::kOpen || !handler_ || readingPaused()) {
    if (state() != State::kOpen) {
      input_.move();  // closing: input is of no use to anyone
    }
    updateReading();
    return;
  }
  const std::size_t have = input_.chainLength();
  if (have >= read_want_ && have > 0) {
    IoBufInput view(input_);
    {
      // Responses the handler sends from here go out in one write when it
      // returns.
      const FollyLoop::WriteScope writes(*loop_);
      deliverInput(view);
    }
    const std::size_t left = input_.chainLength();
    read_want_ = view.wanted() > left ? view.wanted() : 0;
  }
  updateReading();
}

void FollyConnection::readEOF() noexcept {
  reading_ = false;  // AsyncSocket uninstalled the callback
  if (!releasing_) {
    onPeerEof();
  }
}

void FollyConnection::readErr(const folly::AsyncSocketException& ex) noexcept {
  reading_ = false;
  if (releasing_ || state() == State::kFinishing || state() == State::kClosed) {
    return;
  }
  if (ex.getType() == folly::AsyncSocketException::END_OF_FILE) {
    onPeerEof();  // AsyncSSLSocket reports the peer's close_notify this way
    return;
  }
  const CloseReason reason = describeError(CloseCode::kIoError, ex);
  fail(reason.code, reason.sys_error, reason.detail);
}

std::string FollyConnection::tlsFailureDetail(const folly::AsyncSocketException& ex) const {
  // folly wraps OpenSSL's queue as "AsyncSocketException: <errors>, type = SSL
  // error"; keep the errors, the same text the libevent backend reports.
  std::string_view text = ex.what();
  constexpr std::string_view kPrefix = "AsyncSocketException: ";
  if (text.starts_with(kPrefix)) {
    text.remove_prefix(kPrefix.size());
  }
  if (const auto type = text.rfind(", type = "); type != std::string_view::npos) {
    text = text.substr(0, type);
  }
  std::string detail(text);
  const auto* ssl = socket_ ? static_cast<const folly::AsyncSSLSocket*>(socket_.get())->getSSL() : nullptr;
  if (const std::string failure = core::peerVerifyFailure(ssl); !failure.empty()) {
    detail += detail.empty() ? "" : "; ";
    detail += failure;
  }
  return detail;
}

CloseReason FollyConnection::describeError(CloseCode io_code, const folly::AsyncSocketException& ex) const {
  if (tls_ && ex.getType() == folly::AsyncSocketException::SSL_ERROR) {
    return CloseReason{CloseCode::kTlsError, 0, tlsFailureDetail(ex)};
  }
  if (tls_ && state() == State::kConnecting && ex.getErrno() == 0) {
    return CloseReason{CloseCode::kTlsError, 0, std::string("handshake failed: ") + ex.what()};
  }
  if (ex.getErrno() != 0) {
    return CloseReason{io_code, ex.getErrno(), {}};
  }
  return CloseReason{io_code, 0, ex.what()};
}

// ---------------------------------------------------------------------------
// Closing (the state machine is core::ConnectionBase's)

void FollyConnection::startFlush() {
  flushOutput();
  if (state() != State::kFlushing) {
    // The write completed at once (writeSuccess() went on to the linger) or
    // failed. A second startLinger() would call SSL_shutdown() again, which
    // reads the peer's close_notify if it is waiting: taken out of the
    // socket that way, it never raises the read event that reports the EOF,
    // and the linger would wait for the peer's FIN instead.
    return;
  }
  if (in_flight_.empty()) {
    startLinger();
    return;
  }
  // writeSuccess() continues once everything is written. Bound the flush:
  // without write progress for linger_timeout the close becomes an abort.
  socket_->setSendTimeout(static_cast<std::uint32_t>(options().linger_timeout.count()));
  updateReading();
}

void FollyConnection::startLinger() {
  markLingering();
  if (tls_) {
    // close_notify first: the output is flushed, so the alert goes out
    // behind the last record, through the socket's own BIO.
    SSL_shutdown(const_cast<SSL*>(static_cast<folly::AsyncSSLSocket*>(socket_.get())->getSSL()));
    ERR_clear_error();
  }
  ::shutdown(socket_->getNetworkSocket().toFd(), SHUT_WR);
  if (peerEof()) {
    scheduleFinish();
    return;
  }
  // Wait for the peer's EOF, discarding its input: closing a socket with
  // unread input makes the kernel send a reset, which could destroy the
  // very bytes just flushed before the peer reads them.
  linger_timer_ = folly::AsyncTimeout::make(loop_->base(), [this]() noexcept { scheduleFinish(); });
  linger_timer_->scheduleTimeout(options().linger_timeout);
  updateReading();
}

void FollyConnection::stopIo() noexcept {
  if (socket_ && reading_) {
    socket_->setReadCB(nullptr);
    reading_ = false;
  }
}

std::size_t FollyConnection::releaseIo() noexcept {
  watchdog_timer_.reset();
  linger_timer_.reset();
  loop_->forgetFlush(this);
  flush_noted_ = false;
  std::size_t unsent = std::exchange(output_bytes_, 0);
  output_.reset();  // releases the referenced payloads it held
  for (const std::size_t size : in_flight_) {
    unsent += size;
  }
  in_flight_.clear();
  if (!socket_) {
    return unsent;
  }
  // Closing fails the pending writes and ends the read side through our
  // callbacks: they must see that the connection is gone.
  releasing_ = true;
  socket_->setReadCB(nullptr);
  if (aborting()) {
    const auto* ssl = tls_ ? static_cast<folly::AsyncSSLSocket*>(socket_.get())->getSSL() : nullptr;
    if (ssl != nullptr) {
      // An abort sends no close_notify: AsyncSSLSocket's close would.
      SSL_set_quiet_shutdown(const_cast<SSL*>(ssl), 1);
    }
    socket_->closeWithReset();  // RST; unsent bytes dropped
  } else {
    socket_->closeNow();
  }
  socket_.reset();
  return unsent;
}

}  // namespace spool::folly_backend
