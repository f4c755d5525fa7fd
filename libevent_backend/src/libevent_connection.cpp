#include "libevent_connection.h"

#include <cassert>

namespace spool::libevent {

LibeventConnection::Ptr LibeventConnection::create(std::shared_ptr<EventLoop> loop,
                                                   HandlerPtr handler,
                                                   const ConnectionOptions& options,
                                                   std::string peer,
                                                   std::shared_ptr<const TlsContext> tls) {
  return adopt(new LibeventConnection(std::move(loop), std::move(handler), options, std::move(peer),
                                      std::move(tls)));
}

LibeventConnection::LibeventConnection(std::shared_ptr<EventLoop> loop, HandlerPtr handler,
                                       const ConnectionOptions& options, std::string peer,
                                       std::shared_ptr<const TlsContext> tls)
    : StreamConnection(loop, std::move(handler), options, std::move(peer), std::move(tls)),
      loop_(loop.get()) {}

LibeventConnection::~LibeventConnection() {
  // releaseEvents() ran on the loop thread; nothing here may touch libevent.
  assert(!io_added_ && !timer_ && "connection destroyed while its events are alive");
}

bool LibeventConnection::watch(unsigned interest) noexcept {
  if (io_added_) {
    event_del(&io_);
    io_added_ = false;
  }
  if (interest == kNone) {
    return true;
  }
  const short what = static_cast<short>(EV_PERSIST | ((interest & kRead) != 0 ? EV_READ : 0) |
                                        ((interest & kWrite) != 0 ? EV_WRITE : 0));
  // Not added, so it may be re-assigned (libevent has no call that changes
  // an added event's interest).
  event_assign(&io_, loop_->base(), fd(), what, &onSocketCb, this);
  io_added_ = event_add(&io_, nullptr) == 0;
  return io_added_;
}

void LibeventConnection::onSocketCb(evutil_socket_t, short what, void* ctx) {
  static_cast<LibeventConnection*>(ctx)->onReady((what & EV_READ) != 0, (what & EV_WRITE) != 0);
}

bool LibeventConnection::armTimer(std::chrono::milliseconds after) noexcept {
  if (!timer_) {
    timer_.reset(evtimer_new(loop_->base(), &onTimerCb, this));
    if (!timer_) {
      return false;
    }
  }
  const timeval tv = toTimeval(after);
  return event_add(timer_.get(), &tv) == 0;
}

void LibeventConnection::disarmTimer() noexcept {
  if (timer_) {
    event_del(timer_.get());
  }
}

void LibeventConnection::onTimerCb(evutil_socket_t, short, void* ctx) {
  static_cast<LibeventConnection*>(ctx)->onTimer();
}

void LibeventConnection::releaseEvents() noexcept {
  (void)watch(kNone);
  timer_.reset();
}

void LibeventConnection::producerMutant() noexcept {
  // What event_active() would do: touch the connection's event_base from the
  // producer (its lock, when instrumented).
  timeval now{};
  event_base_gettimeofday_cached(loop_->base(), &now);
}

}  // namespace spool::libevent
