// The eventfd doorbell the inbox strategies ring, as spool's loops use one.
#pragma once

#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdint>

#include "ev_handles.h"

namespace spool::bench {

/// An eventfd and the persistent read event that calls `cb` on the loop.
/// The event must be freed before its base: destroy this first.
class WakeEventfd {
 public:
  WakeEventfd(event_base* base, event_callback_fn cb, void* ctx)
      : fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)),
        event_(makeEvent(base, fd_, EV_READ | EV_PERSIST, cb, ctx)) {
    event_add(event_.get(), nullptr);
  }
  ~WakeEventfd() {
    event_.reset();
    ::close(fd_);
  }
  WakeEventfd(const WakeEventfd&) = delete;
  WakeEventfd& operator=(const WakeEventfd&) = delete;

  /// Any thread: one 8-byte write.
  void ring() const noexcept {
    const std::uint64_t one = 1;
    [[maybe_unused]] const auto n = ::write(fd_, &one, sizeof(one));
  }
  /// In the callback: resets the counter.
  static void consume(evutil_socket_t fd) noexcept {
    std::uint64_t value;
    [[maybe_unused]] const auto n = ::read(fd, &value, sizeof(value));
  }

 private:
  int fd_;
  EventPtr event_;
};

}  // namespace spool::bench
