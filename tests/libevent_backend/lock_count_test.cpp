// The proof that producers never take a libevent lock: counting lock
// callbacks are installed before any event_base exists, millions of messages
// are sent from producer threads, and each producer's count must stay zero.
// The second half shows that the counter does count, so the check can fail.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "instrument_locks.h"
#include "lock_counter.h"
#include "test_pki.h"
#include "test_support.h"

using namespace spool;
using namespace spool::test;
using spool::libevent::testing::locksTakenByThisThread;


TEST_CASE("producer threads take zero libevent locks while sending", "[locks][concurrency]") {
  // Plain TCP, then TLS: SSL_write must stay inside the loop's bufferevent.
  const bool tls = GENERATE(false, true);
  INFO((tls ? "TLS" : "plain TCP"));
  constexpr int kConnections = 16;
  constexpr int kProducers = 4;
  constexpr int kPerProducer = 300'000;  // 1.2M messages
  constexpr std::size_t kMessage = 32;

  // Every libevent object gets its lock, so that a producer calling into
  // libevent (event_active, bufferevent_write, ...) would be counted.
  spool::libevent::testing::instrumentEventLocks(true);
  RunningTransport transport(2);
  auto accepted = std::make_shared<Watched<AcceptLog>>();
  ListenOptions listen_options;
  if (tls) {
    listen_options.tls = serverTls();
  }
  auto listener = transport->listen(listen_options, [accepted] {
    return std::make_unique<TargetHandler>(accepted);
  });
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

  std::vector<std::uint64_t> locks(kProducers, ~0ull);
  std::vector<std::uint64_t> refusals(kProducers, 0);
  std::atomic<int> unexpected_results{0};  // Catch2 assertions are not thread-safe
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      const std::string payload(kMessage, static_cast<char>('a' + p));
      for (int i = 0; i < kPerProducer; ++i) {
        const int c = (i + p) % kConnections;
        auto& conn = targets.connections[c];
        auto& writable = targets.recordings[c];
        Buffer buffer = Buffer::copyOf(payload);
        for (;;) {
          const int seen = writable->get().writable_calls;
          const SendResult result = conn->send(std::move(buffer));
          if (result != SendResult::kBackpressure) {
            unexpected_results += result == SendResult::kOk ? 0 : 1;
            break;
          }
          ++refusals[p];  // the payload is still ours: wait for onWritable
          writable->waitUntil([seen](const Recording& r) { return r.writable_calls > seen; },
                              std::chrono::milliseconds(100));
        }
      }
      locks[p] = locksTakenByThisThread();
    });
  }
  for (auto& t : producers) {
    t.join();
  }
  REQUIRE(unexpected_results == 0);
  const std::uint64_t expected = std::uint64_t{kProducers} * kPerProducer * kMessage;
  REQUIRE(received->waitUntil([&](std::uint64_t total) { return total == expected; }));
  for (int p = 0; p < kProducers; ++p) {
    INFO("producer " << p << " (" << refusals[p] << " refusals)");
    CHECK(locks[p] == 0);
  }
  // The instrumentation works: the loops themselves did take libevent locks.
  CHECK(spool::libevent::testing::locksTakenTotal() > 0);
  const auto stats = total(transport->stats());
  WARN("1.2M sends: " << stats.wakeups_requested << " eventfd writes, " << stats.drain_batches
                      << " drain batches, largest " << stats.largest_batch);
  CHECK(stats.wakeups_requested < stats.messages_drained / 10);
}

TEST_CASE("the counter sees event_active from a non-loop thread", "[locks][concurrency]") {
  // A base with locking (no EVENT_BASE_FLAG_NOLOCK), as any base is once lock
  // callbacks are installed: what a producer calling event_active would hit.
  std::unique_ptr<event_base, decltype(&event_base_free)> base(event_base_new(), &event_base_free);
  REQUIRE(base);
  std::unique_ptr<event, decltype(&event_free)> ev(
      event_new(base.get(), -1, 0, [](evutil_socket_t, short, void*) {}, nullptr), &event_free);
  std::uint64_t taken = 0;
  std::thread producer([&] {
    for (int i = 0; i < 1000; ++i) {
      event_active(ev.get(), EV_TIMEOUT, 0);
    }
    taken = locksTakenByThisThread();
  });
  producer.join();
  CHECK(taken >= 1000);
}

TEST_CASE("the counter sees bufferevent_write on a thread-safe bufferevent", "[locks][concurrency]") {
  std::unique_ptr<event_base, decltype(&event_base_free)> base(event_base_new(), &event_base_free);
  int fds[2];
  REQUIRE(socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
  std::unique_ptr<bufferevent, decltype(&bufferevent_free)> bev(
      bufferevent_socket_new(base.get(), fds[0], BEV_OPT_CLOSE_ON_FREE | BEV_OPT_THREADSAFE),
      &bufferevent_free);
  REQUIRE(bev);
  std::uint64_t taken = 0;
  std::thread producer([&] {
    for (int i = 0; i < 100; ++i) {
      bufferevent_write(bev.get(), "x", 1);
    }
    taken = locksTakenByThisThread();
  });
  producer.join();
  CHECK(taken >= 100);
  bev.reset();
  ::close(fds[1]);
}

int main(int argc, char* argv[]) {
  // Before any event_base exists, as libevent requires.
  spool::libevent::testing::installCountingLocks();
  return Catch::Session().run(argc, argv);
}
