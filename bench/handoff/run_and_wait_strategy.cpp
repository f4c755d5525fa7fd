// Synchronous run-and-wait (folly's runInEventBaseThreadAndWait, or
// EventLoop::runInLoopAndWait): the producer posts through spool's inbox and
// blocks until the loop has run its message, one round trip per fragment.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <semaphore>

#include "strategies.h"

namespace spool::bench {
namespace {

// A round trip that takes this long means the loop is gone: fail loudly.
constexpr std::chrono::seconds kRoundTripLimit{10};

thread_local std::binary_semaphore t_done{0};

class RunAndWaitStrategy final : public HandoffStrategy {
 public:
  RunAndWaitStrategy(unsigned loops, MessageSink& sink) : inbox_(makeSpoolInboxStrategy(loops, sink)) {}
  void start() override { inbox_->start(); }
  void send(Message* msg) noexcept override {
    msg->done = &t_done;
    inbox_->send(msg);
    if (!t_done.try_acquire_for(kRoundTripLimit)) {
      std::fprintf(stderr, "handoff: run-and-wait round trip exceeded %llds\n",
                   static_cast<long long>(kRoundTripLimit.count()));
      std::abort();
    }
  }
  void stop() override { inbox_->stop(); }
  [[nodiscard]] bool countsProducerLocks() const noexcept override { return inbox_->countsProducerLocks(); }

 private:
  std::unique_ptr<HandoffStrategy> inbox_;
};

}  // namespace

std::unique_ptr<HandoffStrategy> makeRunAndWaitStrategy(unsigned loops, MessageSink& sink) {
  return std::make_unique<RunAndWaitStrategy>(loops, sink);
}

}  // namespace spool::bench
