#include "producer_syscalls.h"

#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <atomic>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <utility>

#include "producer_scenario.h"

namespace {

thread_local bool t_producer = false;
thread_local bool t_rang_in_this_send = false;  // reset before each send()
std::atomic<std::uint64_t> g_writes{0};
std::atomic<std::uint64_t> g_doorbell_writes{0};
std::atomic<std::uint64_t> g_doorbells_in_one_send{0};
std::atomic<std::uint64_t> g_socket_calls{0};
std::atomic<std::uint64_t> g_epoll_calls{0};
std::atomic<std::uint64_t> g_all_epoll_calls{0};  // any thread
std::atomic<std::uint64_t> g_fionread_calls{0};    // any thread

void note(std::atomic<std::uint64_t>& counter) noexcept {
  if (t_producer) {
    counter.fetch_add(1, std::memory_order_relaxed);
  }
}

/// A write of the 8-byte value 1 to an eventfd: what a doorbell is, told
/// from the kernel's view of the descriptor, not from spool's code.
bool isDoorbellWrite(int fd, const void* data, size_t size) noexcept {
  if (size != sizeof(std::uint64_t) || *static_cast<const std::uint64_t*>(data) != 1) {
    return false;
  }
  char path[64];
  char target[64] = {};
  std::snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
  const ssize_t n = ::readlink(path, target, sizeof(target) - 1);
  return n > 0 && std::strcmp(target, "anon_inode:[eventfd]") == 0;
}

}  // namespace

// The interposers go straight to the kernel, so they need no handle on the
// C library's own definitions.
extern "C" {
ssize_t write(int fd, const void* data, size_t size) {
  note(g_writes);
  if (t_producer && isDoorbellWrite(fd, data, size)) {
    g_doorbell_writes.fetch_add(1, std::memory_order_relaxed);
    if (std::exchange(t_rang_in_this_send, true)) {
      g_doorbells_in_one_send.fetch_add(1, std::memory_order_relaxed);
    }
  }
  return syscall(SYS_write, fd, data, size);
}
ssize_t writev(int fd, const struct iovec* iov, int count) {
  note(g_socket_calls);
  return syscall(SYS_writev, fd, iov, count);
}
ssize_t send(int fd, const void* data, size_t size, int flags) {
  note(g_socket_calls);
  return syscall(SYS_sendto, fd, data, size, flags, nullptr, 0);
}
ssize_t sendto(int fd, const void* data, size_t size, int flags, const struct sockaddr* to, socklen_t length) {
  note(g_socket_calls);
  return syscall(SYS_sendto, fd, data, size, flags, to, length);
}
ssize_t sendmsg(int fd, const struct msghdr* message, int flags) {
  note(g_socket_calls);
  return syscall(SYS_sendmsg, fd, message, flags);
}
int epoll_ctl(int epfd, int op, int fd, struct epoll_event* event) {
  note(g_epoll_calls);
  g_all_epoll_calls.fetch_add(1, std::memory_order_relaxed);
  return static_cast<int>(syscall(SYS_epoll_ctl, epfd, op, fd, event));
}
// One argument, passed on as the register it came in (a pointer, or an
// integer the kernel truncates to int).
int ioctl(int fd, unsigned long request, ...) noexcept {
  va_list args;
  va_start(args, request);
  const unsigned long arg = va_arg(args, unsigned long);
  va_end(args);
  if (request == FIONREAD) {
    g_fionread_calls.fetch_add(1, std::memory_order_relaxed);
  }
  return static_cast<int>(syscall(SYS_ioctl, fd, request, arg));
}
}

namespace spool::test {

ProducerScope::ProducerScope() noexcept { t_producer = true; }
ProducerScope::~ProducerScope() { t_producer = false; }

void resetProducerSyscalls() noexcept {
  g_writes = 0;
  g_doorbell_writes = 0;
  g_doorbells_in_one_send = 0;
  g_socket_calls = 0;
  g_epoll_calls = 0;
}

std::uint64_t epollCtlCalls() noexcept { return g_all_epoll_calls.load(); }
std::uint64_t fionreadCalls() noexcept { return g_fionread_calls.load(); }

ProducerSyscalls producerSyscalls() noexcept {
  return ProducerSyscalls{g_writes.load(), g_doorbell_writes.load(), g_doorbells_in_one_send.load(),
                          g_socket_calls.load(), g_epoll_calls.load()};
}

ProducerRunResult runProducers(bool tls, int per_producer) {
  ProducerScenario scenario;
  scenario.tls = tls;
  scenario.per_producer = per_producer;
  scenario.on_start = [](int) { t_producer = true; };
  scenario.on_end = [](int) { t_producer = false; };
  scenario.before_send = [] { t_rang_in_this_send = false; };
  const ProducerScenarioResult run = runProducerScenario(scenario, [] { resetProducerSyscalls(); });
  ProducerRunResult result;
  result.syscalls = producerSyscalls();
  result.wakeups = run.wakeups;
  result.wakeups_served = run.wakeups_served;
  result.drain_batches = run.drain_batches;
  result.messages = run.messages;
  return result;
}

}  // namespace spool::test
