#include "loop_core.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cassert>
#include <cerrno>
#include <cstring>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <sstream>
#include <vector>

#include "connection_base.h"
#include "spool/errors.h"
#include "spool/log.h"

namespace spool::core {
namespace {

// Which loop, if any, runs on this thread: makes inLoopThread() one load.
thread_local const LoopCore* t_current_loop = nullptr;

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

#ifndef NDEBUG
std::string threadIdString(std::thread::id id) {
  std::ostringstream out;
  out << id;
  return out.str();
}
#endif

}  // namespace

void fatal(const std::string& message) {
  std::fprintf(stderr, "spool: fatal: %s\n", message.c_str());
  std::abort();
}

namespace testing {
namespace {
std::atomic<bool> g_producer_mutant{false};
}  // namespace
void armProducerMutant(bool armed) noexcept { g_producer_mutant.store(armed, std::memory_order_relaxed); }
bool producerMutantArmed() noexcept { return g_producer_mutant.load(std::memory_order_relaxed); }
}  // namespace testing

void requireFreeDescriptors(int count, const std::string& what) {
  std::vector<int> probes;
  probes.reserve(static_cast<std::size_t>(count));
  int error = 0;
  for (int i = 0; i < count; ++i) {
    const int fd = ::fcntl(0, F_DUPFD_CLOEXEC, 0);
    if (fd < 0 && errno != EBADF) {
      error = errno;
      break;
    }
    if (fd >= 0) {
      probes.push_back(fd);
    } else if (int sock = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0); sock >= 0) {
      probes.push_back(sock);  // no descriptor 0 to duplicate: take a fresh one
    } else {
      error = errno;
      break;
    }
  }
  for (const int fd : probes) {
    ::close(fd);
  }
  if (error != 0) {
    throw SetupError(what + ": not enough file descriptors (" + std::strerror(error) + ")");
  }
}

LoopCore::LoopCore(unsigned index, const TransportOptions& options, std::shared_ptr<ConnectionLimit> limit)
    : index_(index),
      name_(options.name + "-" + std::to_string(index)),
      options_(options),
      limit_(std::move(limit)) {}

LoopCore::~LoopCore() = default;

void LoopCore::enterLoopThread() {
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
}

void LoopCore::leaveLoopThread() noexcept { t_current_loop = nullptr; }

void LoopCore::requestStop() noexcept {
  if (!stop_requested_.exchange(true)) {
    post(&stop_task_);
  }
}

void LoopCore::onStopTask(LoopTask* task, bool cancelled) noexcept {
  if (!cancelled) {
    auto* loop = static_cast<MemberTask<LoopCore>*>(task)->owner;
    loop->stopping_ = true;
    loop->beginStop();
  }
}

void LoopCore::addConnection(std::shared_ptr<ConnectionBase> conn) {
  assertInLoopThread("LoopCore::addConnection");
  const auto id = conn->id();
  connections_.emplace(id, std::move(conn));
  bump(counters_.connections_open);
  bump(counters_.connections_total);
}

void LoopCore::removeConnection(std::uint64_t id) {
  assertInLoopThread("LoopCore::removeConnection");
  if (connections_.erase(id) != 0) {
    counters_.connections_open.store(connections_.size(), std::memory_order_relaxed);
  }
  maybeFinishStop();
}

void LoopCore::closeAllConnections(CloseMode mode) {
  assertInLoopThread("LoopCore::closeAllConnections");
  std::vector<std::shared_ptr<ConnectionBase>> open;
  open.reserve(connections_.size());
  for (auto& [id, conn] : connections_) {
    open.push_back(conn);
  }
  if (mode == CloseMode::kAbort && !open.empty()) {
    log(LogLevel::kWarning, "{}: aborting {} connection(s) still closing after the stop grace period",
        name_, open.size());
  }
  for (auto& conn : open) {
    conn->closeInLoop(mode, CloseCode::kTransportStopped,
                      mode == CloseMode::kAbort ? "stop grace period expired" : "");
  }
  maybeFinishStop();
}

void LoopCore::maybeFinishStop() {
  if (stopping_ && connections_.empty()) {
    breakLoop();
  }
}

void LoopCore::clearConnections() noexcept { connections_.clear(); }

void LoopCore::adopt(std::shared_ptr<void> resource) {
  assertInLoopThread("LoopCore::adopt");
  resources_.push_back(std::move(resource));
}

void LoopCore::release(const void* resource) noexcept {
  std::erase_if(resources_, [resource](const std::shared_ptr<void>& r) { return r.get() == resource; });
}

void LoopCore::releaseAll() noexcept { resources_.clear(); }

void LoopCore::post(detail::InboxNode* node) noexcept {
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
    activateDrain();  // the loop's own event: no lock, no system call
    return;
  }
  counters_.wakeups_requested.fetch_add(1, std::memory_order_relaxed);
  wake_fd_.signal();
}

void LoopCore::runInLoop(std::function<void(bool)> fn) { post(new FunctionTask(std::move(fn))); }

void LoopCore::runInLoopAndWait(std::function<void(bool)> fn) {
  assert(!inLoopThread());
  std::promise<void> done;
  runInLoop([&](bool cancelled) {
    fn(cancelled);
    done.set_value();
  });
  done.get_future().wait();
}

bool LoopCore::inLoopThread() const noexcept { return t_current_loop == this; }

void LoopCore::assertInLoopThread([[maybe_unused]] const char* where) const noexcept {
#ifndef NDEBUG
  if (!inLoopThread()) {
    fatal(fmt::format("{} called off its loop thread: loop {} runs on thread {}, caller is thread {}",
                      where, name_, threadIdString(thread_id_.load(std::memory_order_acquire)),
                      threadIdString(std::this_thread::get_id())));
  }
#endif
}

void LoopCore::onDoorbell() {
  wake_fd_.consume();
  bump(counters_.wakeups_served);
  drain();
}

// What one read takes at most: a pipelining client's burst in one recv.
constexpr std::size_t kReadScratchBytes = 64 << 10;

std::span<std::byte> LoopCore::readScratch() {
  if (!read_scratch_) {
    read_scratch_ = std::make_unique_for_overwrite<std::byte[]>(kReadScratchBytes);
  }
  return {read_scratch_.get(), kReadScratchBytes};
}

void LoopCore::closeWriteScope() noexcept {
  if (--write_scope_depth_ > 0 || pending_writes_.empty()) {
    return;
  }
  // No scope is open now, so nothing joins the list while it is walked:
  // output added meanwhile is written at once.
  std::vector<PendingWrite*> batch;
  batch.swap(pending_writes_);
  for (PendingWrite* conn : batch) {
    conn->writePending();
  }
  batch.clear();
  pending_writes_.swap(batch);  // keeps the capacity (nothing joined meanwhile)
}

void LoopCore::drain() {
  assertInLoopThread("LoopCore::drain");
  draining_.store(true, std::memory_order_relaxed);
  std::size_t count = 0;
  PopStatus status = PopStatus::kEmpty;
  detail::InboxNode* node = nullptr;
  beginDrainBatch();
  {
    const WriteScope writes(*this);  // the batch's replies go out when it ends
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
  }
  endDrainBatch();
  // Payload blocks freed during the batch go back to their producers at once.
  detail::flushThreadFrees();
  if (count > 0) {
    bump(counters_.drain_batches);
    raise(counters_.largest_batch, count);
  }
  // Batch full, or a producer is mid-push: come back after polling sockets.
  // draining_ stays set, so producers keep skipping the doorbell meanwhile.
  if (status == PopStatus::kPending || (status == PopStatus::kItem && !inbox_.empty())) {
    activateDrain();
    return;
  }
  draining_.store(false, std::memory_order_seq_cst);
  // A producer that pushed into an empty inbox while draining_ was set did not
  // ring; this re-check (ordered after the store) catches it.
  if (!inbox_.empty()) {
    draining_.store(true, std::memory_order_relaxed);
    activateDrain();
  }
}

PopStatus LoopCore::waitForLink(detail::InboxNode*& node) noexcept {
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

void LoopCore::dispatch(detail::InboxNode* node, bool cancelled) noexcept {
  if (node->kind == detail::InboxKind::kPayload) {
    auto* block = static_cast<detail::BufferBlock*>(node);
    auto* conn = static_cast<ConnectionBase*>(block->target);
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

void LoopCore::markStopped() noexcept {
  stopped_.store(true, std::memory_order_seq_cst);
  drainAfterStop();
}

void LoopCore::drainAfterStop() noexcept {
  std::lock_guard lock(after_stop_mutex_);
  detail::InboxNode* node = nullptr;
  // kPending: the producer mid-push drains itself once its push completes.
  while (inbox_.pop(node) == PopStatus::kItem) {
    dispatch(node, true);
  }
}

}  // namespace spool::core
