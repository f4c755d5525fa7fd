#include "event_loop.h"

#include <cassert>
#include <cerrno>
#include <cstring>

#include "instrument_locks.h"
#include "spool/errors.h"
#include "spool/log.h"

namespace spool::libevent {
namespace {

using core::fatal;

// libevent re-queues an event activated from its own callback behind the
// callbacks already active, and would run it again before polling sockets.
// Capping the callbacks per pass makes it poll (without blocking) in between,
// so a busy inbox cannot starve socket I/O.
constexpr int kMaxCallbacksPerPoll = 64;

// Setting a loop up can fail (out of descriptors or memory): the caller
// creating the Transport gets a SetupError, not an abort.
[[noreturn]] void setupFailed(const std::string& what) {
  throw SetupError(what + " failed: " + std::strerror(errno));
}

// An epoll base takes an epoll descriptor and a socket pair for signals.
constexpr int kBaseDescriptors = 4;

EventBasePtr makeBase(bool instrument_locks, const std::string& name) {
  core::requireFreeDescriptors(kBaseDescriptors, name + ": cannot create an event_base");
  EventConfigPtr config(event_config_new());
  if (!config) {
    setupFailed("event_config_new");
  }
  // NOLOCK: only this loop's thread ever touches the base, so it needs no lock.
  // Producers never call libevent at all (they write the eventfd instead).
  // The lock-count test turns locks on so that any producer call would show.
  // No EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST: it would turn a delete and an
  // add in one turn into one EPOLL_CTL_MOD, but it applies a deletion only
  // at the next poll, after finish() has closed the socket, when another
  // thread may already own that descriptor number. Interest changes are
  // rare anyway (a full socket, a pause); the steady state makes none.
  if (!instrument_locks) {
    event_config_set_flag(config.get(), EVENT_BASE_FLAG_NOLOCK);
  }
  if (event_config_set_max_dispatch_interval(config.get(), nullptr, kMaxCallbacksPerPoll, 0) !=
      0) {
    setupFailed("event_config_set_max_dispatch_interval");
  }
  EventBasePtr base(event_base_new_with_config(config.get()));
  if (!base) {
    setupFailed("event_base_new_with_config");
  }
  return base;
}

EventPtr makeEvent(event_base* base, evutil_socket_t fd, short what, event_callback_fn cb,
                   void* ctx) {
  EventPtr ev(event_new(base, fd, what, cb, ctx));
  if (!ev) {
    setupFailed("event_new");
  }
  return ev;
}

}  // namespace

EventLoop::EventLoop(unsigned index, const TransportOptions& options,
                     std::shared_ptr<ConnectionLimit> limit)
    : LoopCore(index, options, std::move(limit)), base_(makeBase(testing::eventLocksInstrumented(), name())) {
  wake_event_ = makeEvent(base_.get(), wakeFd().readFd(), EV_READ | EV_PERSIST, &onWakeCb, this);
  drain_event_ = makeEvent(base_.get(), -1, 0, &onDrainCb, this);
  deferred_event_ = makeEvent(base_.get(), -1, 0, &onDeferredCb, this);
  grace_timer_ = makeEvent(base_.get(), -1, 0, &onGraceTimeoutCb, this);
  if (event_add(wake_event_.get(), nullptr) != 0) {
    setupFailed("event_add(doorbell)");
  }
}

EventLoop::~EventLoop() {
  // joinAndRelease() ran, or the loop never started; either way no thread is
  // inside the base any more.
  assert(!thread_.joinable());
}

void EventLoop::start() {
  thread_ = std::jthread([this] { run(); });
}

void EventLoop::run() {
  enterLoopThread();
  if (event_base_dispatch(base_.get()) < 0) {
    fatal(name() + ": event_base_dispatch failed");
  }
  leaveLoopThread();
}

void EventLoop::joinAndRelease() {
  assert(!inLoopThread());
  if (thread_.joinable()) {
    thread_.join();
  }
  // From here on no thread owns the consumer role by default: whoever pushes
  // drains (cancelling) under the core's lock.
  deferred_.clear();
  releaseAll();
  clearConnections();  // only non-empty if the loop never ran
  markStopped();
  grace_timer_.reset();
  deferred_event_.reset();
  drain_event_.reset();
  wake_event_.reset();
  base_.reset();
}

void EventLoop::activateDrain() noexcept {
  // Our own NOLOCK base: activating an event takes no lock and no syscall.
  event_active(drain_event_.get(), EV_TIMEOUT, 0);
}

void EventLoop::onWakeCb(evutil_socket_t, short, void* ctx) { static_cast<EventLoop*>(ctx)->onDoorbell(); }

void EventLoop::onDrainCb(evutil_socket_t, short, void* ctx) { static_cast<EventLoop*>(ctx)->drain(); }

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
  const WriteScope writes(*this);  // what the deferred work sends goes out once, at the end
  std::vector<std::function<void()>> batch;
  batch.swap(deferred_);
  for (auto& fn : batch) {
    fn();
  }
}

void EventLoop::beginStop() {
  assertInLoopThread("EventLoop::beginStop");
  releaseAll();  // listeners: stop accepting
  const timeval grace = toTimeval(options().stop_grace);
  if (event_add(grace_timer_.get(), &grace) != 0) {
    // Without the timer nothing would bound the flush: do not wait at all.
    log(LogLevel::kError, "{}: cannot arm the stop grace timer; aborting every connection", name());
    closeAllConnections(CloseMode::kAbort);
    return;
  }
  closeAllConnections(CloseMode::kGraceful);
}

void EventLoop::onGraceTimeoutCb(evutil_socket_t, short, void* ctx) {
  static_cast<EventLoop*>(ctx)->closeAllConnections(CloseMode::kAbort);
}

void EventLoop::breakLoop() noexcept { event_base_loopbreak(base_.get()); }

}  // namespace spool::libevent
