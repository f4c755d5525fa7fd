// The proof, on any backend, that producers never touch a socket or the
// event loop: the binary interposes the system calls through which the
// event library (libevent, folly, OpenSSL under either) writes to sockets or
// changes what the loop polls (producer_syscalls.h), and counts those made on
// producer threads while they send over a million messages. A producer may
// write only to a loop's doorbell (an eventfd), exactly once per wake-up the
// loops counted, and no more often than the loops drained; anything else (a
// send on the socket, an epoll_ctl, folly's runInEventBaseThread, which
// writes folly's own eventfd) shows up as a count above that.
//
// Not built under sanitizers, whose runtimes intercept the same functions.
#include <catch2/catch.hpp>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cstdint>
#include <thread>

#include "producer_syscalls.h"
#include "test_support.h"

using namespace spool;
using namespace spool::test;

TEST_CASE("producer threads make no socket or poll system call, only doorbell writes", "[producers][concurrency]") {
  const bool tls = GENERATE(false, true);
  INFO((tls ? "TLS" : "plain TCP"));
  const ProducerRunResult run = runProducers(tls, 300'000);  // 1.2M messages
  WARN(run.messages << " sends: " << run.syscalls.writes << " producer writes, "
                    << run.syscalls.doorbell_writes << " of them doorbells; the loops counted "
                    << run.wakeups << " wake-ups requested, " << run.wakeups_served << " served, "
                    << run.drain_batches << " drain batches");
  CHECK(run.syscalls.socket_calls == 0);
  CHECK(run.syscalls.epoll_calls == 0);
  // Every producer write is a doorbell by the kernel's account of the
  // descriptor (1 written to an eventfd), and one the loops counted.
  CHECK(run.syscalls.writes == run.syscalls.doorbell_writes);
  CHECK(run.syscalls.doorbell_writes == run.wakeups);
  // At most one doorbell per send(), by the test's own count of its sends.
  CHECK(run.syscalls.doorbells_in_one_send == 0);
  // The same rings against what the loops did, counted where they did it
  // rather than on the lines that ring: a producer rings only into an empty
  // inbox with no drain under way, so a drain batch that moved something
  // separates any two rings of a loop (a doorbell rung twice, or on every
  // send, makes more rings than batches); and every doorbell a loop read
  // had a ring behind it (or one rung before the producers started).
  constexpr std::uint64_t kLoops = 2;
  CHECK(run.syscalls.doorbell_writes <= run.drain_batches);
  CHECK(run.wakeups_served <= run.syscalls.doorbell_writes + kLoops);
}

TEST_CASE("the interposed calls are counted on a producer thread", "[producers][concurrency]") {
  // The check above can fail: the same counters see a thread that writes a
  // socket, changes a poll set, or rings an eventfd other than a doorbell.
  int fds[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
  const int epfd = ::epoll_create1(0);
  REQUIRE(epfd >= 0);
  const int doorbell = ::eventfd(0, EFD_NONBLOCK);
  REQUIRE(doorbell >= 0);
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
    const std::uint64_t ring = 1;
    CHECK(::write(fds[0], &ring, sizeof(ring)) == sizeof(ring));  // a 1, but not to an eventfd
    CHECK(::write(doorbell, &ring, sizeof(ring)) == sizeof(ring));
    CHECK(::write(doorbell, &ring, sizeof(ring)) == sizeof(ring));  // twice, with no send between
  });
  producer.join();
  const ProducerSyscalls seen = producerSyscalls();
  CHECK(seen.socket_calls == 2);
  CHECK(seen.epoll_calls == 1);
  CHECK(seen.writes == 4);
  CHECK(seen.doorbell_writes == 2);
  CHECK(seen.doorbells_in_one_send == 1);
  ::close(doorbell);
  ::close(epfd);
  ::close(fds[0]);
  ::close(fds[1]);
}
