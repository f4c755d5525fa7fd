#include "event_loop.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>

#include <cassert>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <sstream>

#include "libevent_connection.h"
#include "spool/log.h"

namespace spool::libevent {
namespace {

// Which loop, if any, runs on this thread: makes inLoopThread() one load.
thread_local const EventLoop* t_current_loop = nullptr;

// libevent re-queues an event activated from its own callback behind the
// callbacks already active, and would run it again before polling sockets.
// Capping the callbacks per pass makes it poll (without blocking) in between,
// so a busy inbox cannot starve socket I/O.
constexpr int kMaxCallbacksPerPoll = 64;

// A producer between its exchange and its link is usually a few instructions
// from done on another core: wait for it briefly in place. If it was
// preempted there, yield once so it can run (on a small machine it is likely
// waiting for this very core), then fall back to re-arming the drain.
constexpr int kPendingSpins = 128;

inline void cpuRelax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

[[noreturn]] void fatal(const std::string& message) {
  std::fprintf(stderr, "spool: fatal: %s\n", message.c_str());
  std::abort();
}

EventBasePtr makeBase(bool instrument_locks) {
  EventConfigPtr config(event_config_new());
  if (!config) {
    fatal("event_config_new failed");
  }
  // NOLOCK: only this loop's thread ever touches the base, so it needs no lock.
  // Producers never call libevent at all (they write the eventfd instead).
  // The lock-count test turns locks on so that any producer call would show.
  if (!instrument_locks) {
    event_config_set_flag(config.get(), EVENT_BASE_FLAG_NOLOCK);
  }
  if (event_config_set_max_dispatch_interval(config.get(), nullptr, kMaxCallbacksPerPoll, 0) !=
      0) {
    fatal("event_config_set_max_dispatch_interval failed");
  }
  EventBasePtr base(event_base_new_with_config(config.get()));
  if (!base) {
    fatal("event_base_new_with_config failed");
  }
  return base;
}

EventPtr makeEvent(event_base* base, evutil_socket_t fd, short what, event_callback_fn cb,
                   void* ctx) {
  EventPtr ev(event_new(base, fd, what, cb, ctx));
  if (!ev) {
    fatal("event_new failed");
  }
  return ev;
}

/// A runInLoop() closure: heap-allocated, for setup work only (never per message).
struct FunctionTask : LoopTask {
  explicit FunctionTask(std::function<void(bool)> f) : LoopTask(&FunctionTask::run), fn(std::move(f)) {}
  static void run(LoopTask* task, bool cancelled) noexcept {
    std::unique_ptr<FunctionTask> self(static_cast<FunctionTask*>(task));
    self->fn(cancelled);
  }
  std::function<void(bool)> fn;
};

#ifndef NDEBUG
std::string threadIdString(std::thread::id id) {
  std::ostringstream out;
  out << id;
  return out.str();
}
#endif

}  // namespace

EventLoop::EventLoop(unsigned index, const TransportOptions& options,
                     std::shared_ptr<ConnectionLimit> limit)
    : index_(index),
      name_(options.name + "-" + std::to_string(index)),
      options_(options),
      limit_(std::move(limit)),
      base_(makeBase(options.instrument_event_locks)) {
  wake_event_ = makeEvent(base_.get(), wake_fd_.readFd(), EV_READ | EV_PERSIST, &onWakeCb, this);
  drain_event_ = makeEvent(base_.get(), -1, 0, &onDrainCb, this);
  deferred_event_ = makeEvent(base_.get(), -1, 0, &onDeferredCb, this);
  grace_timer_ = makeEvent(base_.get(), -1, 0, &onGraceTimeoutCb, this);
  if (event_add(wake_event_.get(), nullptr) != 0) {
    fatal("event_add(wake) failed");
  }
}

EventLoop::~EventLoop() {
  // joinAndRelease() ran, or the loop never started; either way no thread is
  // inside the base any more.
  assert(!thread_.joinable());
  assert(connections_.empty());
}

void EventLoop::start() {
  thread_ = std::jthread([this] { run(); });
}

void EventLoop::run() {
  t_current_loop = this;
  thread_id_.store(std::this_thread::get_id(), std::memory_order_release);
  pthread_setname_np(pthread_self(), name_.substr(0, 15).c_str());
  // A write to a socket the peer reset raises SIGPIPE on the writing thread.
  // Blocking it here (not ignoring it process-wide) turns it into EPIPE for
  // this thread only, without touching the application's signal handling.
  sigset_t pipe_set;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_set, nullptr);

  if (event_base_dispatch(base_.get()) < 0) {
    fatal(name_ + ": event_base_dispatch failed");
  }
  t_current_loop = nullptr;
}

void EventLoop::requestStop() noexcept {
  if (!stop_requested_.exchange(true)) {
    post(&stop_task_);
  }
}

void EventLoop::joinAndRelease() {
  assert(!inLoopThread());
  if (thread_.joinable()) {
    thread_.join();
  }
  // From here on no thread owns the consumer role by default: whoever pushes
  // sees stopped_ and drains (cancelling) under after_stop_mutex_.
  stopped_.store(true, std::memory_order_seq_cst);
  deferred_.clear();
  resources_.clear();
  connections_.clear();  // only non-empty if the loop never ran
  drainAfterStop();
  grace_timer_.reset();
  deferred_event_.reset();
  drain_event_.reset();
  wake_event_.reset();
  base_.reset();
}

void EventLoop::post(detail::InboxNode* node) noexcept {
  const bool was_empty = inbox_.push(node);
  if (stopped_.load(std::memory_order_seq_cst)) [[unlikely]] {
    drainAfterStop();
    return;
  }
  if (!was_empty) {
    return;  // whoever made it non-empty took care of the wake-up
  }
  if (draining_.load(std::memory_order_seq_cst)) {
    return;  // the drain re-checks the inbox before it stops
  }
  if (inLoopThread()) {
    // Our own NOLOCK base: activating an event takes no lock and no syscall.
    event_active(drain_event_.get(), EV_TIMEOUT, 0);
    return;
  }
  counters_.wakeups_requested.fetch_add(1, std::memory_order_relaxed);
  wake_fd_.signal();
}

void EventLoop::runInLoop(std::function<void(bool)> fn) {
  post(new FunctionTask(std::move(fn)));
}

void EventLoop::runInLoopAndWait(std::function<void(bool)> fn) {
  assert(!inLoopThread());
  std::promise<void> done;
  runInLoop([&](bool cancelled) {
    fn(cancelled);
    done.set_value();
  });
  done.get_future().wait();
}

bool EventLoop::inLoopThread() const noexcept { return t_current_loop == this; }

void EventLoop::assertInLoopThread([[maybe_unused]] const char* where) const noexcept {
#ifndef NDEBUG
  if (!inLoopThread()) {
    fatal(fmt::format("{} called off its loop thread: loop {} runs on thread {}, caller is thread {}",
                      where, name_, threadIdString(thread_id_.load(std::memory_order_acquire)),
                      threadIdString(std::this_thread::get_id())));
  }
#endif
}

void EventLoop::onWakeCb(evutil_socket_t, short, void* ctx) {
  auto* loop = static_cast<EventLoop*>(ctx);
  loop->wake_fd_.consume();
  bump(loop->counters_.wakeups_served);
  loop->drain();
}

void EventLoop::onDrainCb(evutil_socket_t, short, void* ctx) { static_cast<EventLoop*>(ctx)->drain(); }

void EventLoop::drain() {
  assertInLoopThread("EventLoop::drain");
  draining_.store(true, std::memory_order_relaxed);
  std::size_t count = 0;
  PopStatus status = PopStatus::kEmpty;
  detail::InboxNode* node = nullptr;
  const WriteScope writes(*this);  // written out once the batch is committed
  in_drain_ = true;
  while (count < options_.drain_batch) {
    status = inbox_.pop(node);
    if (status == PopStatus::kPending) [[unlikely]] {
      status = waitForLink(node);
    }
    if (status != PopStatus::kItem) {
      break;
    }
    dispatch(node, false);
    ++count;
  }
  in_drain_ = false;
  for (LibeventConnection* conn : staged_) {
    conn->commitStage();
  }
  staged_.clear();
  // Payload blocks freed during the batch go back to their producers at once.
  detail::flushThreadFrees();
  if (count > 0) {
    bump(counters_.drain_batches);
    if (count > counters_.largest_batch.load(std::memory_order_relaxed)) {
      counters_.largest_batch.store(count, std::memory_order_relaxed);
    }
  }
  // Batch full, or a producer is mid-push: come back after polling sockets.
  // draining_ stays set, so producers keep skipping the eventfd meanwhile.
  if (status == PopStatus::kPending || (status == PopStatus::kItem && !inbox_.empty())) {
    event_active(drain_event_.get(), EV_TIMEOUT, 0);
    return;
  }
  draining_.store(false, std::memory_order_seq_cst);
  // A producer that pushed into an empty inbox while draining_ was set did not
  // ring; this re-check (ordered after the store) catches it.
  if (!inbox_.empty()) {
    draining_.store(true, std::memory_order_relaxed);
    event_active(drain_event_.get(), EV_TIMEOUT, 0);
  }
}

PopStatus EventLoop::waitForLink(detail::InboxNode*& node) noexcept {
  PopStatus status = PopStatus::kPending;
  for (int spin = 0; spin < kPendingSpins && status == PopStatus::kPending; ++spin) {
    cpuRelax();
    status = inbox_.pop(node);
  }
  if (status == PopStatus::kPending) {
    sched_yield();
    status = inbox_.pop(node);
  }
  return status;
}

void EventLoop::dispatch(detail::InboxNode* node, bool cancelled) noexcept {
  if (node->kind == detail::InboxKind::kPayload) {
    auto* block = static_cast<detail::BufferBlock*>(node);
    auto* conn = static_cast<LibeventConnection*>(block->target);
    if (cancelled) {
      conn->dropQueued(block);
    } else {
      bump(counters_.messages_drained);
      conn->deliver(block);
    }
    return;
  }
  auto* task = static_cast<LoopTask*>(node);
  task->fn(task, cancelled);
}

void EventLoop::drainAfterStop() noexcept {
  std::lock_guard lock(after_stop_mutex_);
  detail::InboxNode* node = nullptr;
  // kPending: the producer mid-push drains itself once its push completes.
  while (inbox_.pop(node) == PopStatus::kItem) {
    dispatch(node, true);
  }
}

void EventLoop::writeEagerly() noexcept {
  // No scope is open now, so nothing joins the list while it is walked:
  // output added meanwhile turns its connection's write event on instead.
  for (LibeventConnection* conn : eager_writes_) {
    conn->writeEagerly();
  }
  eager_writes_.clear();
}

void EventLoop::defer(std::function<void()> fn) {
  assertInLoopThread("EventLoop::defer");
  deferred_.push_back(std::move(fn));
  if (deferred_.size() == 1) {
    event_active(deferred_event_.get(), EV_TIMEOUT, 0);
  }
}

void EventLoop::onDeferredCb(evutil_socket_t, short, void* ctx) {
  static_cast<EventLoop*>(ctx)->runDeferred();
}

void EventLoop::runDeferred() {
  std::vector<std::function<void()>> batch;
  batch.swap(deferred_);
  for (auto& fn : batch) {
    fn();
  }
}

void EventLoop::addConnection(std::shared_ptr<LibeventConnection> conn) {
  assertInLoopThread("EventLoop::addConnection");
  const auto id = conn->id();
  connections_.emplace(id, std::move(conn));
  bump(counters_.connections_open);
  bump(counters_.connections_total);
}

void EventLoop::removeConnection(std::uint64_t id) {
  assertInLoopThread("EventLoop::removeConnection");
  if (connections_.erase(id) != 0) {
    counters_.connections_open.store(connections_.size(), std::memory_order_relaxed);
  }
  maybeFinishStop();
}

void EventLoop::adopt(std::shared_ptr<void> resource) {
  assertInLoopThread("EventLoop::adopt");
  resources_.push_back(std::move(resource));
}

void EventLoop::onStopTask(LoopTask* task, bool cancelled) noexcept {
  if (!cancelled) {
    static_cast<MemberTask<EventLoop>*>(task)->owner->beginStop();
  }
}

void EventLoop::beginStop() {
  assertInLoopThread("EventLoop::beginStop");
  stopping_ = true;
  resources_.clear();  // listeners: stop accepting
  std::vector<std::shared_ptr<LibeventConnection>> open;
  open.reserve(connections_.size());
  for (auto& [id, conn] : connections_) {
    open.push_back(conn);
  }
  for (auto& conn : open) {
    conn->closeInLoop(CloseMode::kGraceful, CloseCode::kTransportStopped, {});
  }
  const timeval grace = toTimeval(options_.stop_grace);
  event_add(grace_timer_.get(), &grace);
  maybeFinishStop();
}

void EventLoop::onGraceTimeoutCb(evutil_socket_t, short, void* ctx) {
  auto* loop = static_cast<EventLoop*>(ctx);
  std::vector<std::shared_ptr<LibeventConnection>> open;
  for (auto& [id, conn] : loop->connections_) {
    open.push_back(conn);
  }
  if (!open.empty()) {
    log(LogLevel::kWarning, "{}: aborting {} connection(s) still closing after the stop grace period",
        loop->name_, open.size());
  }
  for (auto& conn : open) {
    conn->closeInLoop(CloseMode::kAbort, CloseCode::kTransportStopped, "stop grace period expired");
  }
}

void EventLoop::maybeFinishStop() {
  if (stopping_ && connections_.empty()) {
    event_base_loopbreak(base_.get());
  }
}

LoopStats EventLoop::stats() const noexcept {
  const auto get = [](const std::atomic<std::uint64_t>& c) { return c.load(std::memory_order_relaxed); };
  LoopStats s;
  s.connections_open = get(counters_.connections_open);
  s.connections_total = get(counters_.connections_total);
  s.connections_rejected = get(counters_.connections_rejected);
  s.accept_errors = get(counters_.accept_errors);
  s.bytes_in = get(counters_.bytes_in);
  s.bytes_out = get(counters_.bytes_out);
  s.messages_drained = get(counters_.messages_drained);
  s.messages_direct = get(counters_.messages_direct);
  s.wakeups_requested = get(counters_.wakeups_requested);
  s.wakeups_served = get(counters_.wakeups_served);
  s.drain_batches = get(counters_.drain_batches);
  s.eager_writes = get(counters_.eager_writes);
  s.largest_batch = get(counters_.largest_batch);
  s.backpressure_refusals = get(counters_.backpressure_refusals);
  s.tls_handshakes = get(counters_.tls_handshakes);
  s.tls_failures = get(counters_.tls_failures);
  return s;
}

}  // namespace spool::libevent
