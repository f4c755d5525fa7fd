// Mutex-protected queue + event_active on the empty -> non-empty transition
// (Envoy's Dispatcher::post, muduo's EventLoop::queueInLoop). event_active
// from another thread takes the event_base lock and, while the loop waits in
// epoll, writes libevent's notification eventfd.
#include <memory>
#include <vector>

#include "loop_thread.h"
#include "post_queue.h"
#include "per_loop_strategy.h"
#include "strategies.h"

namespace spool::bench {
namespace {

class PostLoop {
 public:
  PostLoop(unsigned index, MessageSink& sink) : index_(index), sink_(sink) {
    run_event_ = makeEvent(thread_.base(), -1, 0, &onRunCb, this);
  }
  ~PostLoop() {
    thread_.stop();
    run_event_.reset();
  }
  void start() { thread_.start(); }
  void stop() { thread_.stop(); }

  void post(Message* msg) noexcept {
    if (queue_.post(msg)) {
      event_active(run_event_.get(), EV_TIMEOUT, 0);
    }
  }

 private:
  static void onRunCb(evutil_socket_t, short, void* ctx) { static_cast<PostLoop*>(ctx)->run(); }

  void run() noexcept {
    queue_.takeAll(running_);
    for (Message* msg : running_) {
      sink_.receive(index_, msg->producer, msg->ts, msg->done);
    }
    sink_.flush(index_);
  }

  const unsigned index_;
  MessageSink& sink_;
  LoopThread thread_{true};  // event_active from producers needs the base lock
  EventPtr run_event_;
  PostQueue<Message*> queue_;
  std::vector<Message*> running_;  // loop thread only
};

}  // namespace

std::unique_ptr<HandoffStrategy> makeMutexPostStrategy(unsigned loops, MessageSink& sink) {
  return std::make_unique<PerLoopStrategy<PostLoop>>(loops, sink);
}

}  // namespace spool::bench
