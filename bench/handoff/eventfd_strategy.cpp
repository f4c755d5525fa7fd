// The same lock-free inbox as spool's, but one eventfd write per message (no
// coalescing): what the wake-up coalescing saves.

#include <cstdint>
#include <memory>

#include "loop_thread.h"
#include "spool/mpsc_queue.h"
#include "per_loop_strategy.h"
#include "strategies.h"
#include "wake_eventfd.h"

namespace spool::bench {
namespace {

class EventfdLoop {
 public:
  EventfdLoop(unsigned index, MessageSink& sink) : index_(index), sink_(sink) {
  }
  ~EventfdLoop() {
    thread_.stop();
  }
  void start() { thread_.start(); }
  void stop() { thread_.stop(); }

  void post(Message* msg) noexcept {
    inbox_.push(msg);
    wake_.ring();
  }

 private:
  static void onWakeCb(evutil_socket_t fd, short, void* ctx) {
    WakeEventfd::consume(fd);
    static_cast<EventfdLoop*>(ctx)->drain();
  }

  void drain() noexcept {
    // Every push is followed by its own write, so a producer caught between
    // its exchange and its link (kPending) will ring again: stop there.
    Message* msg = nullptr;
    while (inbox_.pop(msg) == PopStatus::kItem) {
      sink_.receive(index_, msg->producer, msg->ts, msg->done);
    }
    sink_.flush(index_);
  }

  const unsigned index_;
  MessageSink& sink_;
  LoopThread thread_{false};
  WakeEventfd wake_{thread_.base(), &onWakeCb, this};  // after thread_: freed before the base
  MpscQueue<Message> inbox_;
};

}  // namespace

std::unique_ptr<HandoffStrategy> makeEventfdPerMessageStrategy(unsigned loops, MessageSink& sink) {
  return std::make_unique<PerLoopStrategy<EventfdLoop>>(loops, sink);
}

}  // namespace spool::bench
