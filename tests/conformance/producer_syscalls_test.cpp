// The proof, on any backend, that producers never touch a socket or the
// event loop: the binary interposes the system calls through which the
// event library (libevent, folly, OpenSSL under either) writes to sockets or
// changes what the loop polls (producer_syscalls.h), and counts those made on
// producer threads while they send over a million messages. A producer may
// write only to a loop's doorbell, exactly once per wake-up the loops
// counted; anything else (a send on the socket, an epoll_ctl, folly's
// runInEventBaseThread, which writes folly's own eventfd) shows up as a
// count above that.
//
// Not built under sanitizers, whose runtimes intercept the same functions.
#include <catch2/catch.hpp>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <thread>

#include "producer_syscalls.h"
#include "test_support.h"

using namespace spool;
using namespace spool::test;

TEST_CASE("producer threads make no socket or poll system call, only doorbell writes", "[producers][concurrency]") {
  const bool tls = GENERATE(false, true);
  INFO((tls ? "TLS" : "plain TCP"));
  const ProducerRunResult run = runProducers(tls, 300'000);  // 1.2M messages
  WARN(run.messages << " sends: " << run.syscalls.writes << " producer writes, " << run.wakeups
                    << " wake-ups requested");
  CHECK(run.syscalls.socket_calls == 0);
  CHECK(run.syscalls.epoll_calls == 0);
  // Every producer write is a doorbell the loops counted, and nothing else.
  CHECK(run.syscalls.writes == run.wakeups);
}

TEST_CASE("the interposed calls are counted on a producer thread", "[producers][concurrency]") {
  // The check above can fail: the same counters see a thread that writes a
  // socket, changes a poll set, or rings an eventfd other than a doorbell.
  int fds[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
  const int epfd = ::epoll_create1(0);
  REQUIRE(epfd >= 0);
  resetProducerSyscalls();
  std::thread producer([&] {
    const ProducerScope scope;
    CHECK(::send(fds[0], "x", 1, MSG_NOSIGNAL) == 1);
    const iovec one{const_cast<char*>("y"), 1};
    CHECK(::writev(fds[0], &one, 1) == 1);
    epoll_event event{};
    event.events = EPOLLIN;
    CHECK(::epoll_ctl(epfd, EPOLL_CTL_ADD, fds[1], &event) == 0);
    CHECK(::write(fds[0], "z", 1) == 1);
  });
  producer.join();
  const ProducerSyscalls seen = producerSyscalls();
  CHECK(seen.socket_calls == 2);
  CHECK(seen.epoll_calls == 1);
  CHECK(seen.writes == 1);
  ::close(epfd);
  ::close(fds[0]);
  ::close(fds[1]);
}
