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


namespace {

struct ProducerRun {
  std::vector<std::uint64_t> locks;  // libevent locks each producer took
  std::uint64_t wakeups = 0;
};

/// 4 producers send `per_producer` 32-byte messages each to 16 connections
/// of an instrumented transport (every libevent object has its lock, so a
/// producer calling into libevent would be counted), and wait until every
/// byte arrived. `mutant`: the test-only switch that makes each off-loop
/// send also touch its connection's event_base, as a broken send path would.
ProducerRun sendFromProducers(bool tls, bool mutant, int per_producer) {
  constexpr int kConnections = 16;
  constexpr int kProducers = 4;
  constexpr std::size_t kMessage = 32;
  // Read when each base and bufferevent is made: on until every connection is.
  spool::libevent::testing::instrumentEventLocks(true);
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
  spool::libevent::testing::instrumentEventLocks(false);  // no later object needs it

  ProducerRun run;
  run.locks.assign(kProducers, ~0ull);
  std::atomic<int> unexpected_results{0};  // Catch2 assertions are not thread-safe
  spool::libevent::testing::armProducerMutant(mutant);
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      const std::string payload(kMessage, static_cast<char>('a' + p));
      const std::uint64_t before = locksTakenByThisThread();
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
      run.locks[p] = locksTakenByThisThread() - before;
    });
  }
  for (auto& t : producers) {
    t.join();
  }
  spool::libevent::testing::armProducerMutant(false);
  REQUIRE(unexpected_results == 0);
  const std::uint64_t expected = std::uint64_t{kProducers} * static_cast<std::uint64_t>(per_producer) * kMessage;
  REQUIRE(received->waitUntil([&](std::uint64_t total) { return total == expected; }));
  run.wakeups = total(transport->stats()).wakeups_requested;
  return run;
}

}  // namespace

TEST_CASE("producer threads take zero libevent locks while sending", "[locks][concurrency]") {
  // Plain TCP, then TLS: SSL_write must stay inside the loop's bufferevent.
  const bool tls = GENERATE(false, true);
  INFO((tls ? "TLS" : "plain TCP"));
  const ProducerRun run = sendFromProducers(tls, /*mutant=*/false, 300'000);  // 1.2M messages
  WARN("1.2M sends: " << run.wakeups << " eventfd writes");
  for (std::size_t p = 0; p < run.locks.size(); ++p) {
    INFO("producer " << p);
    CHECK(run.locks[p] == 0);
  }
}

TEST_CASE("the same proof fails when a producer touches its connection's event base", "[locks][concurrency]") {
  // The mutant: each off-loop send also reads the connection's event_base
  // (event_base_gettimeofday_cached, which takes the base's lock), the kind
  // of call a thread-safe bufferevent or event_active would make. The check
  // above must see it, on the objects the producers really touch.
  const bool tls = GENERATE(false, true);
  INFO((tls ? "TLS" : "plain TCP"));
  constexpr int kPerProducer = 20'000;
  const ProducerRun run = sendFromProducers(tls, /*mutant=*/true, kPerProducer);
  for (std::size_t p = 0; p < run.locks.size(); ++p) {
    INFO("producer " << p);
    CHECK(run.locks[p] >= kPerProducer);  // at least one lock per send
  }
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
