#include "wake_fd.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "spool/errors.h"

#if defined(__linux__)
#include <sys/eventfd.h>
#endif

namespace spool::core {

WakeFd::WakeFd() {
#if defined(__linux__)
  read_fd_ = write_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (read_fd_ >= 0) {
    return;
  }
#endif
  int fds[2];
  if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) {
    throw SetupError(std::string("cannot create a loop's wake-up descriptor: ") + std::strerror(errno));
  }
  read_fd_ = fds[0];
  write_fd_ = fds[1];
}

WakeFd::~WakeFd() {
  ::close(read_fd_);
  if (write_fd_ != read_fd_) {
    ::close(write_fd_);
  }
}

void WakeFd::signal() const noexcept {
  const std::uint64_t one = 1;
  ssize_t n;
  do {
    n = ::write(write_fd_, &one, write_fd_ == read_fd_ ? sizeof(one) : 1);
  } while (n < 0 && errno == EINTR);
  // EAGAIN means the doorbell is already ringing (full pipe): nothing to do.
}

void WakeFd::consume() const noexcept {
  std::uint64_t buf[16];
  ssize_t n;
  do {
    n = ::read(read_fd_, buf, write_fd_ == read_fd_ ? sizeof(std::uint64_t) : sizeof(buf));
  } while (n > 0 && write_fd_ != read_fd_);  // a pipe may hold several bytes
}

}  // namespace spool::core
