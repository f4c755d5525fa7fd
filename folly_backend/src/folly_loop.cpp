#include "folly_loop.h"

#include <cassert>

#include "folly_connection.h"
#include "spool/errors.h"

namespace spool::folly_backend {

namespace {

// folly's EventBase: libevent's epoll descriptor and signal socket pair,
// and folly's own notification eventfd.
constexpr int kBaseDescriptors = 6;

std::unique_ptr<folly::EventBase> makeBase(const std::string& name) {
  core::requireFreeDescriptors(kBaseDescriptors, name + ": cannot create a folly EventBase");
  try {
    return std::make_unique<folly::EventBase>();
  } catch (const std::exception& e) {  // out of descriptors or memory
    throw SetupError(name + ": cannot create a folly EventBase: " + e.what());
  }
}

}  // namespace

FollyLoop::FollyLoop(unsigned index, const TransportOptions& options, std::shared_ptr<ConnectionLimit> limit)
    : LoopCore(index, options, std::move(limit)), base_(makeBase(name())) {
  doorbell_ = std::make_unique<Doorbell>(*this, *base_);
  grace_timer_ = folly::AsyncTimeout::make(*base_, [this]() noexcept { closeAllConnections(CloseMode::kAbort); });
}

FollyLoop::~FollyLoop() {
  // joinAndRelease() ran, or the loop never started.
  assert(!thread_.joinable());
}

FollyLoop::Doorbell::Doorbell(FollyLoop& loop, folly::EventBase& base)
    : folly::EventHandler(&base, folly::NetworkSocket::fromFd(loop.wakeFd().readFd())), loop_(loop) {
  if (!registerHandler(folly::EventHandler::READ | folly::EventHandler::PERSIST)) {
    throw SetupError(loop.name() + ": cannot watch the doorbell");
  }
}

void FollyLoop::Doorbell::handlerReady(std::uint16_t) noexcept { loop_.onDoorbell(); }

void FollyLoop::start() {
  thread_ = std::jthread([this] { run(); });
}

void FollyLoop::run() {
  enterLoopThread();
  base_->loopForever();
  leaveLoopThread();
}

void FollyLoop::joinAndRelease() {
  assert(!inLoopThread());
  if (thread_.joinable()) {
    thread_.join();
  }
  deferred_.clear();
  flushes_.clear();
  releaseAll();
  clearConnections();  // only non-empty if the loop never ran
  markStopped();
  // The EventBase checks that it is destroyed on its own thread; the loop
  // thread is gone, so this thread takes that role for the tear-down.
  drain_callback_.cancelLoopCallback();
  deferred_callback_.cancelLoopCallback();
  flush_callback_.cancelLoopCallback();
  grace_timer_.reset();
  doorbell_.reset();
  base_.reset();
}

void FollyLoop::activateDrain() noexcept {
  // A loop callback: no lock and no system call; the loop polls sockets
  // (without blocking) before it runs, so producers cannot starve I/O.
  if (!drain_callback_.isLoopCallbackScheduled()) {
    base_->runInLoop(&drain_callback_, /*thisIteration=*/false);
  }
}

void FollyLoop::noteFlush(FollyConnection* conn) {
  flushes_.push_back(conn);
  if (write_scope_depth_ == 0 && !flush_callback_.isLoopCallbackScheduled()) {
    base_->runInLoop(&flush_callback_, /*thisIteration=*/true);
  }
}

void FollyLoop::forgetFlush(FollyConnection* conn) noexcept {
  std::erase(flushes_, conn);
}

void FollyLoop::closeWriteScope() noexcept {
  if (--write_scope_depth_ == 0) {
    flushNoted();
  }
}

void FollyLoop::flushNoted() noexcept {
  // A flush hands the output over and cannot finish another connection, but
  // a connection can be noted again meanwhile: take one at a time.
  while (!flushes_.empty()) {
    FollyConnection* conn = flushes_.back();
    flushes_.pop_back();
    conn->flushOutput();
  }
}

void FollyLoop::defer(std::function<void()> fn) {
  assertInLoopThread("FollyLoop::defer");
  deferred_.push_back(std::move(fn));
  if (!deferred_callback_.isLoopCallbackScheduled()) {
    base_->runInLoop(&deferred_callback_, /*thisIteration=*/false);
  }
}

void FollyLoop::runDeferred() {
  std::vector<std::function<void()>> batch;
  batch.swap(deferred_);
  for (auto& fn : batch) {
    fn();
  }
}

void FollyLoop::beginStop() {
  assertInLoopThread("FollyLoop::beginStop");
  releaseAll();  // listeners: stop accepting
  grace_timer_->scheduleTimeout(std::chrono::milliseconds(options().stop_grace));
  closeAllConnections(CloseMode::kGraceful);
}

void FollyLoop::breakLoop() noexcept { base_->terminateLoopSoon(); }

}  // namespace spool::folly_backend
