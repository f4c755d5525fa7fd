// The proof, on any backend, that producers never touch a socket or the
// event loop: the test binary interposes the system calls through which the
// event library (libevent, folly, OpenSSL under either) writes to sockets or
// changes what the loop polls, and counts those made on producer threads
// while they send over a million messages. A producer may write only to a
// loop's doorbell, exactly once per wake-up the loops counted; anything else
// (a send on the socket, an epoll_ctl, folly's runInEventBaseThread, which
// writes folly's own eventfd) shows up as a count above that.
//
// Not built under sanitizers, whose runtimes intercept the same functions.
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
std::atomic<std::uint64_t> g_producer_writes{0};        // write(): doorbells, or worse
std::atomic<std::uint64_t> g_producer_socket_calls{0};  // send*, writev
std::atomic<std::uint64_t> g_producer_epoll_calls{0};   // epoll_ctl

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
  note(g_producer_writes);
  return syscall(SYS_write, fd, data, size);
}
ssize_t writev(int fd, const struct iovec* iov, int count) {
  note(g_producer_socket_calls);
  return syscall(SYS_writev, fd, iov, count);
}
ssize_t send(int fd, const void* data, size_t size, int flags) {
  note(g_producer_socket_calls);
  return syscall(SYS_sendto, fd, data, size, flags, nullptr, 0);
}
ssize_t sendto(int fd, const void* data, size_t size, int flags, const struct sockaddr* to, socklen_t length) {
  note(g_producer_socket_calls);
  return syscall(SYS_sendto, fd, data, size, flags, to, length);
}
ssize_t sendmsg(int fd, const struct msghdr* message, int flags) {
  note(g_producer_socket_calls);
  return syscall(SYS_sendmsg, fd, message, flags);
}
int epoll_ctl(int epfd, int op, int fd, struct epoll_event* event) {
  note(g_producer_epoll_calls);
  return static_cast<int>(syscall(SYS_epoll_ctl, epfd, op, fd, event));
}
}

using namespace spool;
using namespace spool::test;

TEST_CASE("producer threads make no socket or poll system call, only doorbell writes", "[producers][concurrency]") {
  const bool tls = GENERATE(false, true);
  INFO((tls ? "TLS" : "plain TCP"));
  constexpr int kConnections = 16;
  constexpr int kProducers = 4;
  constexpr int kPerProducer = 300'000;  // 1.2M messages
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
  g_producer_writes = 0;
  g_producer_socket_calls = 0;
  g_producer_epoll_calls = 0;

  std::atomic<int> unexpected_results{0};  // Catch2 assertions are not thread-safe
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      t_producer = true;
      const std::string payload(kMessage, static_cast<char>('a' + p));
      for (int i = 0; i < kPerProducer; ++i) {
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
      t_producer = false;
    });
  }
  for (auto& t : producers) {
    t.join();
  }
  REQUIRE(unexpected_results == 0);
  const std::uint64_t expected = std::uint64_t{kProducers} * kPerProducer * kMessage;
  REQUIRE(received->waitUntil([&](std::uint64_t got) { return got == expected; }));
  const std::uint64_t wakeups = total(transport->stats()).wakeups_requested - wakeups_before;
  WARN(kProducers * kPerProducer << " sends: " << g_producer_writes.load() << " producer writes, " << wakeups
                                 << " wake-ups requested");
  CHECK(g_producer_socket_calls.load() == 0);
  CHECK(g_producer_epoll_calls.load() == 0);
  // Every producer write is a doorbell the loops counted, and nothing else.
  CHECK(g_producer_writes.load() == wakeups);
  CHECK(wakeups < std::uint64_t{kProducers} * kPerProducer / 10);
}

TEST_CASE("the interposed calls are counted on a producer thread", "[producers][concurrency]") {
  // The check above can fail: the same counters see a thread that writes a
  // socket, changes a poll set, or rings an eventfd other than a doorbell.
  int fds[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
  const int epfd = ::epoll_create1(0);
  REQUIRE(epfd >= 0);
  g_producer_writes = 0;
  g_producer_socket_calls = 0;
  g_producer_epoll_calls = 0;
  std::thread producer([&] {
    t_producer = true;
    CHECK(::send(fds[0], "x", 1, MSG_NOSIGNAL) == 1);
    const iovec one{const_cast<char*>("y"), 1};
    CHECK(::writev(fds[0], &one, 1) == 1);
    epoll_event event{};
    event.events = EPOLLIN;
    CHECK(::epoll_ctl(epfd, EPOLL_CTL_ADD, fds[1], &event) == 0);
    CHECK(::write(fds[0], "z", 1) == 1);
    t_producer = false;
  });
  producer.join();
  CHECK(g_producer_socket_calls.load() == 2);
  CHECK(g_producer_epoll_calls.load() == 1);
  CHECK(g_producer_writes.load() == 1);
  ::close(epfd);
  ::close(fds[0]);
  ::close(fds[1]);
}
