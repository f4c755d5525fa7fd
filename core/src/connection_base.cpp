#include "connection_base.h"

#include <cerrno>
#include <utility>

#include "spool/log.h"

namespace spool::core {
namespace {

std::atomic<std::uint64_t> g_next_connection_id{1};

CloseCode localCode(CloseMode mode) noexcept {
  return mode == CloseMode::kAbort ? CloseCode::kLocalAbort : CloseCode::kLocalClose;
}

}  // namespace

ConnectionBase::ConnectionBase(std::shared_ptr<LoopCore> loop, HandlerPtr handler,
                               const ConnectionOptions& options, std::string peer, bool tls)
    : handler_(std::move(handler)),
      core_(std::move(loop)),
      id_(g_next_connection_id.fetch_add(1, std::memory_order_relaxed)),
      peer_(std::move(peer)),
      options_(options),
      tls_(tls),
      watchdog_(options, tls, ConnectionWatchdog::Clock::now()),
      budget_(options.send_high_watermark, options.send_low_watermark) {}

ConnectionBase::~ConnectionBase() = default;

void ConnectionBase::postDestroy() noexcept {
  // Not a delete: the object must outlive every payload already queued for it
  // (see the class comment). Keep the loop alive across post(): after stop()
  // the destroy task can run, and free this object, inside it.
  const std::shared_ptr<LoopCore> loop = core_;
  loop->post(&destroy_task_);
}

void ConnectionBase::onDestroyTask(LoopTask* task, bool /*cancelled*/) noexcept {
  delete static_cast<MemberTask<ConnectionBase>*>(task)->owner;
}

// ---------------------------------------------------------------------------
// Connection

SendResult ConnectionBase::send(Buffer&& payload) {
  if (closing_.load(std::memory_order_acquire)) {
    payload.reset();
    return SendResult::kClosed;
  }
  if (!payload) {
    return SendResult::kOk;  // nothing to send
  }
  if (!budget_.reserve(payload.size())) {
    refusals_.fetch_add(1, std::memory_order_relaxed);
    core_->counters().backpressure_refusals.fetch_add(1, std::memory_order_relaxed);
    return SendResult::kBackpressure;
  }
  detail::BufferBlock* block = payload.release();
  block->target = this;
  // On the loop thread with nothing queued, nothing sent earlier can be
  // overtaken: skip the inbox. Otherwise queue behind what is there.
  if (core_->inLoopThread() && core_->inboxEmpty()) {
    bump(core_->counters().messages_direct);
    deliver(block);
    return SendResult::kOk;
  }
  if (testing::producerMutantArmed()) [[unlikely]] {
    producerMutant();
  }
  core_->post(block);
  return SendResult::kOk;
}

void ConnectionBase::close(CloseMode mode, std::string_view reason) {
  if (close_requested_.exchange(true, std::memory_order_acq_rel)) {
    return;  // the first close decides
  }
  requested_mode_ = mode;
  requested_reason_.assign(reason);
  closing_.store(true, std::memory_order_release);
  if (core_->inLoopThread() && core_->inboxEmpty()) {
    closeInLoop(mode, localCode(mode), std::move(requested_reason_));
    return;
  }
  // Ordered behind every payload queued before it, so a graceful close flushes them.
  core_->post(&close_task_);
}

void ConnectionBase::onCloseTask(LoopTask* task, bool cancelled) noexcept {
  if (cancelled) {
    return;
  }
  auto* conn = static_cast<MemberTask<ConnectionBase>*>(task)->owner;
  const CloseMode mode = conn->requested_mode_;
  conn->closeInLoop(mode, localCode(mode), std::move(conn->requested_reason_));
}

void ConnectionBase::runInLoop(std::function<void()> fn) {
  core_->runInLoop([fn = std::move(fn)](bool cancelled) {
    if (!cancelled) {
      fn();
    }
  });
}

bool ConnectionBase::isOpen() const noexcept { return !closing_.load(std::memory_order_acquire); }

ConnectionCounters ConnectionBase::counters() const noexcept {
  ConnectionCounters c;
  c.bytes_received = bytes_received_.load(std::memory_order_relaxed);
  c.bytes_sent = bytes_sent_.load(std::memory_order_relaxed);
  c.messages_sent = messages_sent_.load(std::memory_order_relaxed);
  c.refusals = refusals_.load(std::memory_order_relaxed);
  c.backlog = budget_.backlog();
  return c;
}

std::optional<TlsPeerInfo> ConnectionBase::tlsPeer() const {
  // Written once on the loop thread before the flag; immutable afterwards.
  if (!tls_ready_.load(std::memory_order_acquire)) {
    return std::nullopt;
  }
  return *tls_peer_;
}

void ConnectionBase::setTlsPeer(TlsPeerInfo info) noexcept {
  tls_peer_ = std::make_unique<const TlsPeerInfo>(std::move(info));
  tls_ready_.store(true, std::memory_order_release);
}

// ---------------------------------------------------------------------------
// Data

void ConnectionBase::dropQueued(detail::BufferBlock* block) noexcept {
  budget_.retire(block->size);
  detail::BufferBlock::destroy(block);
}

void ConnectionBase::failAppend(std::size_t size) noexcept {
  budget_.retire(size);
  fail(CloseCode::kIoError, ENOMEM, "cannot append to the output buffer");
}

void ConnectionBase::onBytesWritten(std::size_t count) {
  bump(bytes_sent_, count);
  bump(core_->counters().bytes_out, count);
  const std::size_t now = budget_.retire(count);
  releaseReadingHold(now);
  if (!writable_scheduled_ && budget_.writableOwed(now)) {
    writable_scheduled_ = true;
    core_->defer([self = selfAs<ConnectionBase>()] { self->notifyWritable(); });
  }
}

void ConnectionBase::notifyWritable() {
  writable_scheduled_ = false;
  if (state_ == State::kOpen && handler_ && budget_.takeRefusal()) {
    callHandler("onWritable", [this] { handler_->onWritable(*this); });
  }
}

void ConnectionBase::onBytesReceived(std::size_t count) {
  bump(bytes_received_, count);
  bump(core_->counters().bytes_in, count);
}

void ConnectionBase::onWatchdogTick() {
  const ConnectionWatchdog::Sample sample{writeProgress(), bytes_received_.load(std::memory_order_relaxed),
                                          budget_.backlog(), tls_ && state_ == State::kConnecting};
  ConnectionWatchdog::Millis elapsed{0};
  switch (watchdog_.check(sample, ConnectionWatchdog::Clock::now(), elapsed)) {
    case ConnectionWatchdog::Verdict::kHandshakeTimeout:
      bump(core_->counters().tls_handshake_timeouts);
      closeInLoop(CloseMode::kAbort, CloseCode::kHandshakeTimeout,
                  fmt::format("handshake not completed within {} ms", elapsed.count()));
      break;
    case ConnectionWatchdog::Verdict::kStuck:
      if (state_ == State::kOpen || state_ == State::kFlushing) {
        closeInLoop(CloseMode::kAbort, CloseCode::kSendQueueStuck,
                    fmt::format("{} bytes queued, none written for {} ms", sample.backlog, elapsed.count()));
      }
      break;
    case ConnectionWatchdog::Verdict::kIdle:
      if (state_ == State::kOpen) {
        closeAfterQueued(CloseCode::kIdleTimeout,
                         fmt::format("nothing received or sent for {} ms", elapsed.count()));
      } else if (state_ == State::kConnecting) {
        // Still handshaking (or connecting): nothing to flush.
        closeInLoop(CloseMode::kAbort, CloseCode::kIdleTimeout,
                    fmt::format("nothing received or sent for {} ms", elapsed.count()));
      }
      break;
    case ConnectionWatchdog::Verdict::kFine:
      break;
  }
}

// ---------------------------------------------------------------------------
// Opening and closing

void ConnectionBase::markOpen() {
  state_ = State::kOpen;
  callHandler("onOpen", [this] { handler_->onOpen(*this); });
}

void ConnectionBase::deliverInput(InputBuffer& input) {
  if (holdReadingForBacklog()) {
    return;  // handed over once the backlog drains (restartReading)
  }
  if (callHandler("onData", [&] { handler_->onData(*this, input); })) {
    // Replies sent on this thread count at once: stop before the next read.
    holdReadingForBacklog();
  }
}

// ---------------------------------------------------------------------------
// Pausing input

void ConnectionBase::pauseReading() {
  core_->assertInLoopThread("Connection::pauseReading");
  const bool was_paused = readingPaused();
  paused_by_handler_ = true;
  if (!was_paused && state_ == State::kOpen) {
    stopReading();
  }
}

void ConnectionBase::resumeReading() {
  core_->assertInLoopThread("Connection::resumeReading");
  if (!std::exchange(paused_by_handler_, false) || readingPaused() || state_ != State::kOpen) {
    return;
  }
  resumeInput();
}

bool ConnectionBase::holdReadingForBacklog() {
  if (paused_by_backlog_) {
    return true;
  }
  if (!options_.pause_reading_while_backlogged || state_ != State::kOpen || peer_eof_ ||
      budget_.backlog() < options_.send_high_watermark) {
    return false;
  }
  // Checked on the loop thread when input arrives: the loop thread's own
  // replies hold the very next read; other threads' count once they are
  // sent, so how much input gets in before then depends on how far those
  // threads lag behind the reads. A server that queues work per request
  // bounds that queue itself (spoold's queued_input_limit).
  paused_by_backlog_ = true;
  bump(core_->counters().read_pauses_backlog);
  if (!paused_by_handler_) {
    stopReading();
  }
  return true;
}

void ConnectionBase::releaseReadingHold(std::size_t backlog_now) {
  if (!paused_by_backlog_ || backlog_now > options_.send_low_watermark) {
    return;
  }
  paused_by_backlog_ = false;
  if (!paused_by_handler_ && state_ == State::kOpen) {
    resumeInput();
  }
}

void ConnectionBase::resumeInput() {
  restartReading();
  // Bytes that arrived before the pause raise no new read event: hand them
  // over on a later turn, from a clean stack.
  core_->defer([self = selfAs<ConnectionBase>()] {
    if (self->state_ == State::kOpen && !self->readingPaused()) {
      self->deliverBufferedInput();
    }
  });
}

void ConnectionBase::handlerFailed(const char* callback, std::string_view what) noexcept {
  try {
    log(LogLevel::kError, "{}: connection {} ({}): {} threw: {}; aborting the connection", core_->name(), id_, peer_,
        callback, what);
    closeInLoop(CloseMode::kAbort, CloseCode::kHandlerError, fmt::format("{} threw: {}", callback, what));
  } catch (...) {
    fail(CloseCode::kHandlerError, 0, {});  // out of memory while describing it
  }
}

void ConnectionBase::notifyClose() noexcept {
  if (auto handler = std::move(handler_)) {
    try {
      handler->onClose(*this, reason_);
    } catch (const std::exception& e) {
      log(LogLevel::kError, "{}: connection {} ({}): onClose threw: {}", core_->name(), id_, peer_, e.what());
    } catch (...) {
      log(LogLevel::kError, "{}: connection {} ({}): onClose threw", core_->name(), id_, peer_);
    }
  }  // the handler is destroyed here, on the loop thread
}

void ConnectionBase::connectTo(const SocketAddress& address) {
  outgoing_ = std::make_unique<Outgoing>(this, address);
  outgoing_->pending_self = shared_from_this();  // the queued task must not outlive the object
  core_->post(&outgoing_->task);
}

void ConnectionBase::onConnectTask(LoopTask* task, bool cancelled) noexcept {
  auto* conn = static_cast<MemberTask<ConnectionBase>*>(task)->owner;
  const std::shared_ptr<Connection> keep = std::move(conn->outgoing_->pending_self);
  if (cancelled || conn->core_->stopping()) {
    conn->failBeforeOpen(CloseReason{CloseCode::kTransportStopped, 0, "before the connection was made"});
    return;
  }
  conn->startConnect();
}

void ConnectionBase::failBeforeOpen(CloseReason reason) noexcept {
  closing_.store(true, std::memory_order_release);
  state_ = State::kClosed;
  if (std::exchange(holds_limit_slot_, false)) {
    core_->connectionLimit().release();
  }
  reason_ = std::move(reason);
  notifyClose();
}

void ConnectionBase::onPeerEof() {
  peer_eof_ = true;  // from here the backlog holds nothing (holdReadingForBacklog)
  if (std::exchange(paused_by_backlog_, false) && state_ == State::kOpen && !paused_by_handler_) {
    // The peer has sent all it will: nothing is left to bound, and what it
    // sent before its EOF goes to the handler first.
    deliverBufferedInput();
  }
  if (state_ == State::kOpen) {
    bool keep_sending = false;
    if (handler_ && !callHandler("onPeerShutdown", [&] { keep_sending = handler_->onPeerShutdown(*this); })) {
      return;  // it threw: the connection is being aborted
    }
    if (keep_sending) {
      return;  // the handler keeps writing and will close
    }
    closeAfterQueued(CloseCode::kPeerClosed, {});
  } else if (state_ == State::kLingering) {
    scheduleFinish();
  } else if (state_ == State::kConnecting) {
    // Gone before the connection opened (a TLS peer that closed or reset
    // mid-handshake): nothing will ever complete; give the slot back now.
    if (tls_) {
      bump(core_->counters().tls_failures);
    }
    fail(tls_ ? CloseCode::kTlsError : CloseCode::kConnectFailed, 0,
         tls_ ? "handshake failed: connection closed by peer" : "connection closed by peer");
  }
  // kFlushing: keep writing; startLinger() sees peer_eof_.
}

void ConnectionBase::closeInLoop(CloseMode mode, CloseCode code, std::string detail) {
  core_->assertInLoopThread("ConnectionBase::closeInLoop");
  commitOutput();  // what was accepted before the close belongs to the flush
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
  startFlush();
}

void ConnectionBase::closeAfterQueued(CloseCode code, std::string detail) {
  closing_.store(true, std::memory_order_release);  // no new sends from here on
  if (core_->inboxEmpty()) {
    closeInLoop(CloseMode::kGraceful, code, std::move(detail));
    return;
  }
  // Payloads accepted before now may still be in the inbox: close behind them.
  if (!std::exchange(queued_close_posted_, true)) {
    queued_close_reason_ = CloseReason{code, 0, std::move(detail)};
    core_->post(&queued_close_task_);
  }
}

void ConnectionBase::onQueuedCloseTask(LoopTask* task, bool cancelled) noexcept {
  if (cancelled) {
    return;
  }
  auto* conn = static_cast<MemberTask<ConnectionBase>*>(task)->owner;
  CloseReason reason = std::move(conn->queued_close_reason_);
  conn->closeInLoop(CloseMode::kGraceful, reason.code, std::move(reason.detail));
}

void ConnectionBase::markLingering() noexcept { state_ = State::kLingering; }

void ConnectionBase::flushTimedOut() {
  if (state_ != State::kFlushing) {
    return;
  }
  abort_ = true;  // the peer does not take the rest: reset instead of waiting
  reason_.detail += reason_.detail.empty() ? "" : "; ";
  reason_.detail += fmt::format("output not flushed within {} ms", options_.linger_timeout.count());
  scheduleFinish();
}

void ConnectionBase::fail(CloseCode code, int sys_error, std::string detail) {
  closing_.store(true, std::memory_order_release);
  if (state_ == State::kFinishing || state_ == State::kClosed) {
    return;  // already closing for a reason of its own: the first one stands
  }
  reason_ = CloseReason{code, sys_error, std::move(detail)};
  scheduleFinish();
}

void ConnectionBase::scheduleFinish() {
  if (state_ == State::kFinishing || state_ == State::kClosed) {
    return;
  }
  commitOutput();
  state_ = State::kFinishing;
  closing_.store(true, std::memory_order_release);
  stopIo();
  // Never free the socket or call onClose from inside the event library's
  // callbacks or the handler's: do it on a later turn, from a clean stack.
  core_->defer([self = selfAs<ConnectionBase>()] { self->finish(); });
}

void ConnectionBase::finish() {
  core_->assertInLoopThread("ConnectionBase::finish");
  state_ = State::kClosed;
  if (std::exchange(holds_limit_slot_, false)) {
    core_->connectionLimit().release();
  }
  budget_.retire(releaseIo());
  // Leave the loop's table first, so the loop's counters already agree when
  // the handler hears of the close. The deferred call holds a reference.
  core_->removeConnection(id_);
  notifyClose();
}

}  // namespace spool::core
