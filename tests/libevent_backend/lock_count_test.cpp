// The proof that producers never take a libevent lock: counting lock
// callbacks are installed before any event_base exists, millions of messages
// are sent from producer threads, and each producer's count must stay zero.
// The second half shows that the counter does count, so the check can fail.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>
#include <event2/event.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "instrument_locks.h"
#include "lock_counter.h"
#include "producer_scenario.h"
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

/// The producer scenario (producer_scenario.h) on an instrumented transport:
/// every libevent object has its lock, so a producer calling into libevent
/// would be counted. `mutant`: the test-only switch that makes each off-loop
/// send also touch its connection's event_base, as a broken send path would.
ProducerRun sendFromProducers(bool tls, bool mutant, int per_producer) {
  ProducerRun run;
  run.locks.assign(4, ~0ull);
  std::vector<std::uint64_t> before(4, 0);
  ProducerScenario scenario;
  scenario.tls = tls;
  scenario.per_producer = per_producer;
  scenario.on_start = [&before](int p) { before[p] = locksTakenByThisThread(); };
  scenario.on_end = [&](int p) { run.locks[p] = locksTakenByThisThread() - before[p]; };
  // Read when each base is made: on until every connection
  // is, then the mutant (if asked) while the producers send.
  spool::libevent::testing::instrumentEventLocks(true);
  const ProducerScenarioResult result = runProducerScenario(scenario, [mutant] {
    spool::libevent::testing::instrumentEventLocks(false);  // no later object needs it
    spool::libevent::testing::armProducerMutant(mutant);
  });
  spool::libevent::testing::armProducerMutant(false);
  run.wakeups = result.wakeups;
  return run;
}

}  // namespace

TEST_CASE("producer threads take zero libevent locks while sending", "[locks][concurrency]") {
  // Plain TCP, then TLS: SSL_write must stay on the loop thread, behind the inbox.
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
  // of call event_active or re-arming a write event would make. The check
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

TEST_CASE("the counter sees event_add of a socket's event from a non-loop thread", "[locks][concurrency]") {
  // What a send path that re-armed the connection's write event from the
  // producer would do (the old bufferevent_write on a thread-safe bufferevent
  // did exactly this under its lock).
  std::unique_ptr<event_base, decltype(&event_base_free)> base(event_base_new(), &event_base_free);
  int fds[2];
  REQUIRE(socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
  std::unique_ptr<event, decltype(&event_free)> ev(
      event_new(base.get(), fds[0], EV_WRITE | EV_PERSIST, [](evutil_socket_t, short, void*) {}, nullptr),
      &event_free);
  REQUIRE(ev);
  std::uint64_t taken = 0;
  std::thread producer([&] {
    for (int i = 0; i < 100; ++i) {
      event_add(ev.get(), nullptr);
      event_del(ev.get());
    }
    taken = locksTakenByThisThread();
  });
  producer.join();
  CHECK(taken >= 100);
  ev.reset();
  ::close(fds[0]);
  ::close(fds[1]);
}

int main(int argc, char* argv[]) {
  // Before any event_base exists, as libevent requires.
  spool::libevent::testing::installCountingLocks();
  return Catch::Session().run(argc, argv);
}
