#include "producer_syscalls.h"

#include <catch2/catch.hpp>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "test_pki.h"
#include "test_support.h"

namespace {

thread_local bool t_producer = false;
std::atomic<std::uint64_t> g_writes{0};
std::atomic<std::uint64_t> g_socket_calls{0};
std::atomic<std::uint64_t> g_epoll_calls{0};

void note(std::atomic<std::uint64_t>& counter) noexcept {
  if (t_producer) {
    counter.fetch_add(1, std::memory_order_relaxed);
  }
}

}  // namespace

// The interposers go straight to the kernel, so they need no handle on the
// C library's own definitions.
extern "C" {
ssize_t write(int fd, const void* data, size_t size) {
  note(g_writes);
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
  return static_cast<int>(syscall(SYS_epoll_ctl, epfd, op, fd, event));
}
}

namespace spool::test {

ProducerScope::ProducerScope() noexcept { t_producer = true; }
ProducerScope::~ProducerScope() { t_producer = false; }

void resetProducerSyscalls() noexcept {
  g_writes = 0;
  g_socket_calls = 0;
  g_epoll_calls = 0;
}

ProducerSyscalls producerSyscalls() noexcept {
  return ProducerSyscalls{g_writes.load(), g_socket_calls.load(), g_epoll_calls.load()};
}

ProducerRunResult runProducers(bool tls, int per_producer) {
  constexpr int kConnections = 16;
  constexpr int kProducers = 4;
  constexpr std::size_t kMessage = 32;

  RunningTransport transport(2);
  auto accepted = std::make_shared<Watched<AcceptLog>>();
  ListenOptions listen_options;
  if (tls) {
    listen_options.tls = serverTls();
  }
  auto listener = transport->listen(listen_options, [accepted] { return std::make_unique<TargetHandler>(accepted); });
  auto received = std::make_shared<Watched<std::uint64_t>>(0);
  std::vector<ConnectionPtr> clients;
  for (int i = 0; i < kConnections; ++i) {
    ConnectOptions options;
    options.port = listener->port();
    if (tls) {
      options.tls = clientTls();
    }
    clients.push_back(transport->connect(options, std::make_unique<ByteCounter>(received)));
  }
  REQUIRE(accepted->waitUntil([](const AcceptLog& l) { return l.connections.size() == kConnections; }));
  const AcceptLog targets = accepted->get();
  const std::uint64_t wakeups_before = total(transport->stats()).wakeups_requested;
  resetProducerSyscalls();

  std::atomic<int> unexpected_results{0};  // Catch2 assertions are not thread-safe
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      const ProducerScope producer;
      const std::string payload(kMessage, static_cast<char>('a' + p));
      for (int i = 0; i < per_producer; ++i) {
        const int c = (i + p) % kConnections;
        Buffer buffer = Buffer::copyOf(payload);
        for (;;) {
          const int seen = targets.recordings[c]->get().writable_calls;
          const SendResult result = targets.connections[c]->send(std::move(buffer));
          if (result != SendResult::kBackpressure) {
            unexpected_results += result == SendResult::kOk ? 0 : 1;
            break;
          }
          // The payload is still ours: wait for onWritable (re-checked).
          targets.recordings[c]->waitUntil([seen](const Recording& r) { return r.writable_calls > seen; },
                                           std::chrono::milliseconds(100));
        }
      }
    });
  }
  for (auto& t : producers) {
    t.join();
  }
  REQUIRE(unexpected_results == 0);
  ProducerRunResult result;
  result.messages = std::uint64_t{kProducers} * static_cast<std::uint64_t>(per_producer);
  REQUIRE(received->waitUntil([&](std::uint64_t got) { return got == result.messages * kMessage; }));
  result.syscalls = producerSyscalls();
  result.wakeups = total(transport->stats()).wakeups_requested - wakeups_before;
  return result;
}

}  // namespace spool::test
