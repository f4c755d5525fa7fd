// folly's own way of handing work to a loop, as a folly application does it
// (folly v2023.02.20): one EventBase per loop thread, and each message posted
// with EventBase::runInEventBaseThread: a folly::Function pushed onto the
// EventBase's notification queue, which writes the loop's eventfd when the
// loop is waiting for it. The baseline issue 10 sets spool's handoff target
// against (spool >= 10x this with 2 producers), measured in the same run.
#include <folly/io/async/EventBase.h>
#include <pthread.h>

#include <memory>
#include <string>
#include <thread>

#include "per_loop_strategy.h"
#include "strategies.h"

namespace spool::bench {
namespace {

/// One EventBase on its own thread. post() from any thread; the rest on the
/// main thread. A loop callback publishes progress once per loop iteration,
/// the folly counterpart of the other strategies' flush after each drain.
class FollyPostLoop final : private folly::EventBase::LoopCallback {
 public:
  FollyPostLoop(unsigned index, MessageSink& sink) : index_(index), sink_(sink) {}
  ~FollyPostLoop() override { stop(); }

  void start() {
    thread_ = std::thread([this] {
      pthread_setname_np(pthread_self(), ("folly-loop-" + std::to_string(index_)).c_str());
      evb_.loopForever();
    });
    evb_.waitUntilRunning();
  }
  void stop() {
    if (thread_.joinable()) {
      evb_.terminateLoopSoon();
      thread_.join();
      cancelLoopCallback();  // else ~EventBase would run it on a half-destroyed loop
    }
  }

  void post(Message* msg) noexcept {
    evb_.runInEventBaseThread([this, msg] { receive(msg); });
  }

 private:
  // Loop thread.
  void receive(Message* msg) noexcept {
    sink_.receive(index_, msg->producer, msg->ts, msg->done);
    if (!isLoopCallbackScheduled()) {
      evb_.runInLoop(this);  // after this iteration's queued closures
    }
  }
  void runLoopCallback() noexcept override { sink_.flush(index_); }

  const unsigned index_;
  MessageSink& sink_;
  folly::EventBase evb_;
  std::thread thread_;
};

}  // namespace

std::unique_ptr<HandoffStrategy> makeFollyPostStrategy(unsigned loops, MessageSink& sink) {
  return std::make_unique<PerLoopStrategy<FollyPostLoop>>(loops, sink);
}

}  // namespace spool::bench
