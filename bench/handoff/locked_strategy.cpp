// The old libevent way, on plain events: each producer copies its message
// into the loop's buffer under a lock the loop also takes, then calls
// event_active on the loop's event, on a base with libevent's locks, for
// every message. So each message costs a lock shared with the loop, a copy
// in and out, and libevent's base lock (with libevent's notification eventfd
// while the loop waits in epoll): what a producer paid when it wrote into
// libevent's own thread-safe buffered connection, whose every write took
// that connection's lock, copied, and scheduled the reader's callback under
// the base lock. (The `mutex` strategy, by contrast, takes the base lock
// only on the empty -> non-empty transition and copies nothing.)
#include <mutex>
#include <vector>

#include "loop_thread.h"
#include "per_loop_strategy.h"
#include "strategies.h"

namespace spool::bench {
namespace {

class LockedLoop {
 public:
  LockedLoop(unsigned index, MessageSink& sink) : index_(index), sink_(sink) {
    run_event_ = makeEvent(thread_.base(), -1, 0, &onRunCb, this);
  }
  ~LockedLoop() {
    thread_.stop();
    run_event_.reset();
  }
  void start() { thread_.start(); }
  void stop() { thread_.stop(); }

  void post(Message* msg) noexcept {
    const MessageRecord record{msg->ts, msg->producer, msg->loop};
    {
      std::lock_guard lock(mutex_);
      records_.push_back(record);
    }
    // Every message, even when the event is already active: the base lock
    // each time (libevent only notes that it is active already).
    event_active(run_event_.get(), EV_READ, 0);
  }

 private:
  static void onRunCb(evutil_socket_t, short, void* ctx) { static_cast<LockedLoop*>(ctx)->read(); }

  void read() noexcept {
    {
      std::lock_guard lock(mutex_);
      reading_.swap(records_);
    }
    for (const MessageRecord& record : reading_) {
      sink_.receive(index_, record.producer, record.ts, nullptr);
    }
    reading_.clear();
    sink_.flush(index_);
  }

  const unsigned index_;
  MessageSink& sink_;
  LoopThread thread_{true};  // event_active from producers needs the base lock
  EventPtr run_event_;
  std::mutex mutex_;
  std::vector<MessageRecord> records_;  // under mutex_
  std::vector<MessageRecord> reading_;  // loop thread only
};

}  // namespace

std::unique_ptr<HandoffStrategy> makeLockedStrategy(unsigned loops, MessageSink& sink) {
  return std::make_unique<PerLoopStrategy<LockedLoop>>(loops, sink);
}

}  // namespace spool::bench
