// spool's inbox, reproduced from libevent_backend/src/event_loop.cpp so that
// the mechanism itself is measured: an intrusive MPSC queue whose push is one
// atomic exchange, an eventfd written only on the empty -> non-empty
// transition while the loop is not draining, bounded drain batches that
// re-arm themselves with event_active on the loop's own NOLOCK base.
#include <sched.h>

#include <atomic>
#include <cstdint>
#include <memory>

#include "loop_thread.h"
#include "spool/mpsc_queue.h"
#include "per_loop_strategy.h"
#include "strategies.h"
#include "wake_eventfd.h"

namespace spool::bench {
namespace {

// TransportOptions::drain_batch's default, and event_loop.cpp's kMaxCallbacksPerPoll.
constexpr std::size_t kDrainBatch = 1024;
constexpr int kMaxCallbacksPerPoll = 64;
// spool-yield only: pops retried in place before giving the CPU away.
constexpr int kPendingSpins = 128;

/// `YieldOnPending` false is the backend's drain; true is the variant this
/// benchmark proposes (strategy spool-yield): when a producer sits between
/// its exchange and its link (kPending), retry in place briefly and then
/// sched_yield() (on an oversubscribed machine that producer is most likely
/// descheduled) instead of re-arming the drain event at once, which spins
/// the loop through libevent while the producer waits for a CPU.
template <bool YieldOnPending>
class InboxLoop {
 public:
  InboxLoop(unsigned index, MessageSink& sink) : index_(index), sink_(sink) {
    drain_event_ = makeEvent(thread_.base(), -1, 0, &onDrainCb, this);
  }
  ~InboxLoop() {
    thread_.stop();
    drain_event_.reset();
  }

  void start() { thread_.start(); }
  void stop() { thread_.stop(); }
  /// Drains that ended on kPending and re-armed themselves. After stop().
  [[nodiscard]] std::uint64_t pendingRearms() const noexcept { return pending_rearms_; }

  // Producer side: EventLoop::post().
  void post(Message* msg) noexcept {
    if (!inbox_.push(msg)) {
      return;  // whoever made it non-empty took care of the wake-up
    }
    if (draining_.load(std::memory_order_seq_cst)) {
      return;  // the drain re-checks the inbox before it stops
    }
    wake_.ring();
  }

 private:
  static void onWakeCb(evutil_socket_t fd, short, void* ctx) {
    WakeEventfd::consume(fd);
    static_cast<InboxLoop*>(ctx)->drain();
  }
  static void onDrainCb(evutil_socket_t, short, void* ctx) { static_cast<InboxLoop*>(ctx)->drain(); }

  // EventLoop::drain().
  void drain() noexcept {
    draining_.store(true, std::memory_order_relaxed);
    std::size_t count = 0;
    PopStatus status = PopStatus::kEmpty;
    Message* msg = nullptr;
    while (count < kDrainBatch) {
      status = inbox_.pop(msg);
      if constexpr (YieldOnPending) {
        for (int spin = 0; status == PopStatus::kPending && spin < kPendingSpins; ++spin) {
          __builtin_ia32_pause();
          status = inbox_.pop(msg);
        }
        if (status == PopStatus::kPending) {
          sched_yield();
          status = inbox_.pop(msg);
        }
      }
      if (status != PopStatus::kItem) {
        break;
      }
      sink_.receive(index_, msg->producer, msg->ts, msg->done);
      ++count;
    }
    sink_.flush(index_);
    pending_rearms_ += status == PopStatus::kPending;
    if (status == PopStatus::kPending || (status == PopStatus::kItem && !inbox_.empty())) {
      event_active(drain_event_.get(), EV_TIMEOUT, 0);
      return;
    }
    draining_.store(false, std::memory_order_seq_cst);
    if (!inbox_.empty()) {
      draining_.store(true, std::memory_order_relaxed);
      event_active(drain_event_.get(), EV_TIMEOUT, 0);
    }
  }

  const unsigned index_;
  MessageSink& sink_;
  LoopThread thread_{false, kMaxCallbacksPerPoll};  // NOLOCK, like spool's loops
  WakeEventfd wake_{thread_.base(), &onWakeCb, this};  // after thread_: freed before the base
  EventPtr drain_event_;
  MpscQueue<Message> inbox_;
  alignas(64) std::atomic<bool> draining_{false};
  std::uint64_t pending_rearms_ = 0;  // loop thread
};

}  // namespace

std::unique_ptr<HandoffStrategy> makeSpoolInboxStrategy(unsigned loops, MessageSink& sink) {
  return std::make_unique<PerLoopStrategy<InboxLoop<false>>>(loops, sink);
}

std::unique_ptr<HandoffStrategy> makeSpoolYieldStrategy(unsigned loops, MessageSink& sink) {
  return std::make_unique<PerLoopStrategy<InboxLoop<true>>>(loops, sink);
}

}  // namespace spool::bench
