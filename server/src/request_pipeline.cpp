#include "request_pipeline.h"

#include <chrono>

namespace spoold {

namespace {
constexpr std::string_view kBusy = "BUSY currently processing crawler request\r\n";
// How often a paced metadump re-checks its stop flag while the client reads nothing.
constexpr std::chrono::milliseconds kPaceCheck{100};
}  // namespace

RequestPipeline::RequestPipeline(ServerContext& ctx, spool::ConnectionPtr conn, WorkerPool* pool,
                                 MetadumpService& metadump)
    : ctx_(ctx), conn_(std::move(conn)), pool_(pool), metadump_(metadump), session_(ctx) {}

// ---------------------------------------------------------------------------
// Loop thread

void RequestPipeline::onData(spool::InputBuffer& input) {
  if (pool_ == nullptr) {
    runInline(input);
    return;
  }
  {
    std::lock_guard lock(mutex_);
    if (closed_ || watching_) {
      input.consume(input.size());
      return;
    }
    queueLocked(input);
    if (busy_ || blocked_) {
      return;
    }
    busy_ = true;
  }
  schedule();
}

void RequestPipeline::queueLocked(spool::InputBuffer& input) {
  const std::size_t n = input.size();
  if (n == 0) {
    return;
  }
  queue_.push(input.take(n));
  queued_bytes_ += n;
  raiseQueuedInputPeak();
  if (queued_bytes_ >= ctx_.settings.queued_input_limit && !reading_paused_) {
    // The runner is behind (slow commands, a parked response, a metadump):
    // let TCP push back on the client. Whoever shrinks the queue resumes.
    reading_paused_ = true;
    ctx_.queued_input_pauses.fetch_add(1, std::memory_order_relaxed);
    conn_->pauseReading();
  }
}

void RequestPipeline::raiseQueuedInputPeak() noexcept {
  std::size_t peak = ctx_.queued_input_peak.load(std::memory_order_relaxed);
  while (queued_bytes_ > peak &&
         !ctx_.queued_input_peak.compare_exchange_weak(peak, queued_bytes_, std::memory_order_relaxed)) {
  }
}

bool RequestPipeline::popLocked(spool::Buffer& chunk) {
  chunk = queue_.pop();
  queued_bytes_ -= chunk.size();
  return claimResumeLocked();
}

bool RequestPipeline::claimResumeLocked() {
  if (resume_posted_ || !resumeDueLocked()) {
    return false;
  }
  resume_posted_ = true;
  return true;
}

bool RequestPipeline::resumeDueLocked() const noexcept {
  return reading_paused_ && queued_bytes_ <= ctx_.settings.queued_input_limit / 4;
}

void RequestPipeline::resumeReadingInLoop() {
  std::lock_guard lock(mutex_);
  resume_posted_ = false;
  // The queue may have grown again meanwhile: then the next pop resumes.
  if (!closed_ && resumeDueLocked()) {
    reading_paused_ = false;
    conn_->resumeReading();
  }
}

void RequestPipeline::onLoopThread(void (RequestPipeline::*fn)()) {
  if (conn_->inLoopThread()) {
    (this->*fn)();
  } else {
    conn_->runInLoop([self = shared_from_this(), fn] { ((*self).*fn)(); });
  }
}

void RequestPipeline::runInline(spool::InputBuffer& input) {
  bool queued = false;
  {
    std::lock_guard lock(mutex_);
    if (closed_ || watching_) {
      input.consume(input.size());
      return;
    }
    if (busy_ || blocked_) {
      queueLocked(input);
      return;
    }
    busy_ = true;
    if (hasWorkLocked() || !carry_.empty()) {
      // A runner that drained the queue may have left the start of a command
      // in carry_ (no runner now, so reading it is safe): the new bytes
      // continue it and must go through run(), which prepends carry_.
      queueLocked(input);
      queued = true;
    }
  }
  if (queued) {
    run();
    return;
  }
  // The common path: parse straight out of the socket's input buffer.
  budget_ = ctx_.settings.reqs_per_event;
  const Outcome outcome = runCommands(input.text(input.size()), true);
  input.consume(outcome.consumed);
  bool close = false;
  bool go_on = false;
  {
    std::lock_guard lock(mutex_);
    if (outcome.stop == Stop::kDrained) {
      if (outcome.want > input.size()) {
        input.wantBytes(outcome.want);
      }
      go_on = releaseLocked(close);
    } else if (outcome.stop == Stop::kClosed) {
      busy_ = false;
      input.consume(input.size());
    } else {
      queueLocked(input);  // blocked or waiting for a metadump: the rest waits its turn
      if (outcome.stop == Stop::kBlocked) {
        go_on = releaseLocked(close);
      }
    }
  }
  if (outcome.stop == Stop::kMetadump) {
    go_on = !startMetadump();
  } else if (outcome.stop == Stop::kYield) {
    yieldTurn();
  }
  if (close) {
    closeConnection();
  } else if (go_on) {
    run();
  }
}

bool RequestPipeline::startMetadump() {
  if (metadump_.start(shared_from_this(), session_.metadump())) {
    return true;  // the metadump thread is the runner now
  }
  // One dump at a time, like memcached's crawler. Still the runner: answer
  // and go on with the queued input.
  out_.append(kBusy);
  const Flush flushed = flush();
  std::lock_guard lock(mutex_);
  carry_pending_ = carry_pending_ || !carry_.empty();
  if (flushed == Flush::kClosed) {
    closed_ = true;
  }
  return false;
}

void RequestPipeline::onWritable() {
  spool::Buffer held;
  {
    std::lock_guard lock(mutex_);
    if (!blocked_) {
      writable_pending_ = true;  // a runner or the metadump thread is about to park
      writable_cv_.notify_all();
      return;
    }
    held = std::move(held_);
  }
  const spool::SendResult result = conn_->send(std::move(held));
  bool go_on = false;
  bool close = false;
  {
    std::lock_guard lock(mutex_);
    if (result == spool::SendResult::kBackpressure) {
      held_ = std::move(held);  // another onWritable follows this refusal
      return;
    }
    blocked_ = false;
    if (result == spool::SendResult::kClosed) {
      closed_ = true;
      return;
    }
    if (close_after_flush_) {
      close = true;
    } else if (!busy_) {
      busy_ = true;
      go_on = releaseLocked(close);
    }
  }
  if (close) {
    closeConnection();
  } else if (go_on) {
    schedule();
  }
}

void RequestPipeline::onPeerShutdown() {
  bool close = false;
  {
    std::lock_guard lock(mutex_);
    eof_ = true;
    close = !busy_ && !blocked_ && !hasWorkLocked();
  }
  if (close) {
    closeConnection();  // graceful: what was sent is flushed first
  }
}

RequestPipeline::Outcome RequestPipeline::startWatch(std::size_t input_size) {
  // As memcached's conn_watch: the connection only receives log lines from
  // now on, and what it sends is dropped; the runner lets go for good.
  const Flush flushed = flush();  // the OK first
  bool resume = false;
  {
    std::lock_guard lock(mutex_);
    watching_ = true;
    queue_.clear();
    queued_bytes_ = 0;
    if (flushed == Flush::kClosed) {
      closed_ = true;
      return Outcome{Stop::kClosed, input_size, 0};
    }
    // The queue it was paused for is gone: read (and drop) again, so the
    // watcher's hang-up is seen.
    resume = claimResumeLocked();
  }
  if (resume) {
    onLoopThread(&RequestPipeline::resumeReadingInLoop);
  }
  ctx_.watch.add(conn_, session_.watchFlags());
  return Outcome{Stop::kClosed, input_size, 0};
}

void RequestPipeline::onClose() {
  std::lock_guard lock(mutex_);
  closed_ = true;
  queue_.clear();
  queued_bytes_ = 0;
  held_.reset();
  writable_cv_.notify_all();
}

// ---------------------------------------------------------------------------
// Runner

bool RequestPipeline::releaseLocked(bool& close) {
  if (!closed_ && !blocked_ && hasWorkLocked()) {
    return true;  // input arrived meanwhile: keep going
  }
  busy_ = false;
  close = !closed_ && !blocked_ && eof_ && !hasWorkLocked();
  return false;
}

void RequestPipeline::schedule() {
  if (pool_ != nullptr) {
    pool_->submit(shared_from_this());
  } else {
    onLoopThread(&RequestPipeline::run);  // inline: commands run on the loop thread only
  }
}

void RequestPipeline::yieldTurn() {
  if (pool_ != nullptr) {
    pool_->submit(shared_from_this());
  } else {
    conn_->runInLoop([self = shared_from_this()] { self->run(); });
  }
}

void RequestPipeline::run() {
  budget_ = ctx_.settings.reqs_per_event;
  for (;;) {
    spool::Buffer chunk;
    bool more = false;
    bool resume = false;
    {
      std::lock_guard lock(mutex_);
      bool close = false;
      if (closed_ || !hasWorkLocked()) {
        releaseLocked(close);
        if (close) {
          closeConnection();
        }
        return;
      }
      // Commands already taken run before more input is taken: appending a
      // chunk per turn while running only -R commands of it let carry_
      // outgrow the queue's bound, and each turn re-copied all of it.
      if (!carry_pending_) {
        resume = popLocked(chunk);
      }
      carry_pending_ = false;
      more = !queue_.empty();
    }
    if (resume) {
      onLoopThread(&RequestPipeline::resumeReadingInLoop);
    }
    std::string_view view;
    const bool carried = nextInput(chunk, view);
    const Outcome outcome = runCommands(view, !more);
    if (carried) {
      carry_.consume(outcome.consumed);
    } else {
      carry_.assign(view.substr(outcome.consumed));
    }
    if (outcome.stop == Stop::kDrained) {
      continue;
    }
    std::unique_lock lock(mutex_);
    carry_pending_ = !carry_.empty();
    if (outcome.stop == Stop::kMetadump) {
      lock.unlock();
      if (startMetadump()) {
        return;  // the metadump thread owns the session now
      }
      continue;
    }
    if (outcome.stop == Stop::kYield) {
      lock.unlock();
      yieldTurn();  // still the runner: the rest waits in carry_ and the queue
      return;
    }
    if (outcome.stop == Stop::kClosed) {
      busy_ = false;
      return;
    }
    bool close = false;
    if (releaseLocked(close)) {
      continue;  // onWritable already unblocked us and work is waiting
    }
    lock.unlock();
    if (close) {
      closeConnection();
    }
    return;
  }
}

bool RequestPipeline::nextInput(spool::Buffer& chunk, std::string_view& view) {
  if (!chunk) {
    view = carry_.view();  // complete commands left by the last turn
    return true;
  }
  if (carry_.empty()) {
    view = chunk.view();
    return false;
  }
  carry_.append(chunk.view());  // the new bytes finish carry_'s command
  view = carry_.view();
  return true;
}

RequestPipeline::Outcome RequestPipeline::runCommands(std::string_view view, bool flush_at_end) {
  Outcome outcome;
  const WatchLog::ClientScope client(conn_->id());  // the `cfd` of watch lines
  for (;;) {
    const Session::Result r = session_.process(view.substr(outcome.consumed), out_, &budget_);
    outcome.consumed += r.consumed;
    if (r.action == Action::kClose) {
      const Flush flushed = flush();
      {
        std::lock_guard lock(mutex_);
        if (flushed == Flush::kBlocked) {
          close_after_flush_ = true;  // onWritable closes once the response is out
          return Outcome{Stop::kBlocked, view.size(), 0};
        }
        closed_ = true;
      }
      closeConnection();
      return Outcome{Stop::kClosed, view.size(), 0};
    }
    if (r.action == Action::kWatch) {
      return startWatch(view.size());
    }
    if (r.action == Action::kMetadump) {
      // The caller saves what is left of the input, then hands off: the
      // metadump thread may take over the session the moment it starts.
      return Outcome{Stop::kMetadump, outcome.consumed, 0};
    }
    if (r.yield) {
      ctx_.stats.add(Counter::kConnYields);
      // Responses go out before the other connections run, as memcached's.
      if (const Flush f = flush(); f != Flush::kSent) {
        outcome.stop = f == Flush::kBlocked ? Stop::kBlocked : Stop::kClosed;
        return outcome;
      }
      outcome.stop = Stop::kYield;
      return outcome;
    }
    if (r.need_more || outcome.consumed == view.size()) {
      outcome.want = r.want;
      break;
    }
    // The output grew past Session::kFlushBytes: send it before going on.
    if (const Flush f = flush(); f != Flush::kSent) {
      outcome.stop = f == Flush::kBlocked ? Stop::kBlocked : Stop::kClosed;
      return outcome;
    }
  }
  if (flush_at_end) {
    if (const Flush f = flush(); f != Flush::kSent) {
      outcome.stop = f == Flush::kBlocked ? Stop::kBlocked : Stop::kClosed;
    }
  }
  return outcome;
}

RequestPipeline::Flush RequestPipeline::flush() {
  spool::Buffer batch = out_.take();
  if (!batch) {
    return Flush::kSent;
  }
  for (;;) {
    const spool::SendResult result = conn_->send(std::move(batch));
    if (result == spool::SendResult::kOk) {
      return Flush::kSent;
    }
    std::lock_guard lock(mutex_);
    if (result == spool::SendResult::kClosed) {
      closed_ = true;
      return Flush::kClosed;
    }
    if (writable_pending_) {
      writable_pending_ = false;  // the budget freed up while we were refused: retry
      continue;
    }
    held_ = std::move(batch);
    blocked_ = true;
    return Flush::kBlocked;
  }
}

// ---------------------------------------------------------------------------
// Metadump thread

bool RequestPipeline::sendPaced(spool::Buffer&& payload, const std::atomic<bool>& stop) {
  while (!stop.load()) {
    const spool::SendResult result = conn_->send(std::move(payload));
    if (result != spool::SendResult::kBackpressure) {
      return result == spool::SendResult::kOk;
    }
    std::unique_lock lock(mutex_);
    writable_cv_.wait_for(lock, kPaceCheck, [this] { return writable_pending_ || closed_; });
    if (closed_) {
      return false;
    }
    writable_pending_ = false;
  }
  return false;
}

void RequestPipeline::metadumpDone() {
  // Still the runner: go on with the commands that queued up meanwhile, on a
  // worker or (inline) back on the loop thread, never on the crawler's.
  schedule();
}

}  // namespace spoold
