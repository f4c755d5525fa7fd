#include "loop_thread.h"

#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>

namespace spool::bench {

EventPtr makeEvent(event_base* base, evutil_socket_t fd, short what, event_callback_fn cb, void* ctx) {
  EventPtr ev(event_new(base, fd, what, cb, ctx));
  if (!ev) {
    std::fprintf(stderr, "bench: event_new failed\n");
    std::abort();
  }
  return ev;
}

LoopThread::LoopThread(bool locking, int max_callbacks_per_poll) {
  event_config* config = event_config_new();
  if (!locking) {
    event_config_set_flag(config, EVENT_BASE_FLAG_NOLOCK);
  }
  if (max_callbacks_per_poll > 0) {
    event_config_set_max_dispatch_interval(config, nullptr, max_callbacks_per_poll, 0);
  }
  base_.reset(event_base_new_with_config(config));
  event_config_free(config);
  stop_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (!base_ || stop_fd_ < 0) {
    std::fprintf(stderr, "bench: cannot create an event loop\n");
    std::abort();
  }
  stop_event_ = makeEvent(base_.get(), stop_fd_, EV_READ, &onStopCb, this);
  event_add(stop_event_.get(), nullptr);
}

LoopThread::~LoopThread() {
  stop();
  stop_event_.reset();
  base_.reset();
  ::close(stop_fd_);
}

void LoopThread::start() {
  thread_ = std::thread([this] {
    thread_id_.store(std::this_thread::get_id());
    // Writes to a reset socket report EPIPE instead of killing the process.
    sigset_t pipe_set;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, nullptr);
    event_base_dispatch(base_.get());
  });
}

void LoopThread::stop() {
  if (!thread_.joinable()) {
    return;
  }
  const std::uint64_t one = 1;
  if (::write(stop_fd_, &one, sizeof(one)) != sizeof(one)) {
    std::perror("bench: eventfd write");
  }
  thread_.join();
}

void LoopThread::onStopCb(evutil_socket_t, short, void* ctx) {
  event_base_loopbreak(static_cast<LoopThread*>(ctx)->base_.get());
}

}  // namespace spool::bench
