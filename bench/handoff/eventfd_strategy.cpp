// The same lock-free inbox as spool's, but one eventfd write per message (no
// coalescing): what the wake-up coalescing saves.
#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdint>
#include <memory>

#include "loop_thread.h"
#include "spool/mpsc_queue.h"
#include "per_loop_strategy.h"
#include "strategies.h"

namespace spool::bench {
namespace {

class EventfdLoop {
 public:
  EventfdLoop(unsigned index, MessageSink& sink) : index_(index), sink_(sink) {
    wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    wake_event_ = makeEvent(thread_.base(), wake_fd_, EV_READ | EV_PERSIST, &onWakeCb, this);
    event_add(wake_event_.get(), nullptr);
  }
  ~EventfdLoop() {
    thread_.stop();
    wake_event_.reset();
    ::close(wake_fd_);
  }
  void start() { thread_.start(); }
  void stop() { thread_.stop(); }

  void post(Message* msg) noexcept {
    inbox_.push(msg);
    const std::uint64_t one = 1;
    [[maybe_unused]] const auto n = ::write(wake_fd_, &one, sizeof(one));
  }

 private:
  static void onWakeCb(evutil_socket_t fd, short, void* ctx) {
    std::uint64_t value;
    [[maybe_unused]] const auto n = ::read(fd, &value, sizeof(value));
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
  int wake_fd_ = -1;
  EventPtr wake_event_;
  MpscQueue<Message> inbox_;
};

}  // namespace

std::unique_ptr<HandoffStrategy> makeEventfdPerMessageStrategy(unsigned loops, MessageSink& sink) {
  return std::make_unique<PerLoopStrategy<EventfdLoop>>(loops, sink);
}

}  // namespace spool::bench
