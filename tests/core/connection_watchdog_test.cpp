// The stuck-queue and idle decisions, tick by tick, without sockets or sleeps.
#include "connection_watchdog.h"

#include <catch2/catch.hpp>

using spool::ConnectionOptions;
using spool::core::ConnectionWatchdog;
using namespace std::chrono_literals;
using Verdict = ConnectionWatchdog::Verdict;

namespace {
const ConnectionWatchdog::Clock::time_point kStart{};
}

TEST_CASE("no limits: disabled, no timer needed", "[watchdog][unit]") {
  ConnectionWatchdog dog(ConnectionOptions{}, false, kStart);
  CHECK_FALSE(dog.enabled());
}

TEST_CASE("the period is a quarter of the shorter limit, clamped", "[watchdog][unit]") {
  ConnectionOptions options;
  options.send_stuck_timeout = 400ms;
  options.idle_timeout = 10s;
  CHECK(ConnectionWatchdog(options, false, kStart).period() == 100ms);
  options.send_stuck_timeout = 8ms;
  CHECK(ConnectionWatchdog(options, false, kStart).period() == 5ms);
  options.send_stuck_timeout = 0ms;
  options.idle_timeout = 60s;
  CHECK(ConnectionWatchdog(options, false, kStart).period() == 1000ms);
}

TEST_CASE("a queue that does not move is stuck; progress or an empty queue resets it", "[watchdog][unit]") {
  ConnectionOptions options;
  options.send_stuck_timeout = 200ms;
  ConnectionWatchdog dog(options, false, kStart);
  ConnectionWatchdog::Millis elapsed{0};
  CHECK(dog.check({0, 0, 1000}, kStart + 100ms, elapsed) == Verdict::kFine);
  CHECK(dog.check({500, 0, 500}, kStart + 250ms, elapsed) == Verdict::kFine);  // wrote: progress
  CHECK(dog.check({500, 0, 500}, kStart + 400ms, elapsed) == Verdict::kFine);
  CHECK(dog.check({500, 0, 500}, kStart + 450ms, elapsed) == Verdict::kStuck);
  CHECK(elapsed == 200ms);
  SECTION("an empty queue is never stuck") {
    ConnectionWatchdog idle_queue(options, false, kStart);
    CHECK(idle_queue.check({0, 0, 0}, kStart + 10s, elapsed) == Verdict::kFine);
    CHECK(idle_queue.check({0, 0, 10}, kStart + 10s + 100ms, elapsed) == Verdict::kFine);
  }
}

TEST_CASE("nothing sent or received for the idle limit is idle", "[watchdog][unit]") {
  ConnectionOptions options;
  options.idle_timeout = 1s;
  ConnectionWatchdog dog(options, false, kStart);
  ConnectionWatchdog::Millis elapsed{0};
  CHECK(dog.check({0, 0, 0}, kStart + 900ms, elapsed) == Verdict::kFine);
  CHECK(dog.check({0, 10, 0}, kStart + 1500ms, elapsed) == Verdict::kFine);  // received: activity
  CHECK(dog.check({0, 10, 0}, kStart + 2400ms, elapsed) == Verdict::kFine);
  CHECK(dog.check({0, 10, 0}, kStart + 2500ms, elapsed) == Verdict::kIdle);
  CHECK(elapsed == 1000ms);
}

TEST_CASE("a TLS handshake still under way after the handshake limit times out", "[watchdog][unit]") {
  ConnectionOptions options;
  options.handshake_timeout = 400ms;
  ConnectionWatchdog::Millis elapsed{0};
  SECTION("TLS: checked while handshaking, and only then") {
    ConnectionWatchdog dog(options, true, kStart);
    REQUIRE(dog.enabled());
    CHECK(dog.period() == 100ms);
    CHECK(dog.check({0, 0, 0, true}, kStart + 399ms, elapsed) == Verdict::kFine);
    CHECK(dog.check({0, 0, 0, true}, kStart + 400ms, elapsed) == Verdict::kHandshakeTimeout);
    CHECK(elapsed == 400ms);
    CHECK(dog.check({0, 0, 0, false}, kStart + 10s, elapsed) == Verdict::kFine);  // handshake done
  }
  SECTION("plain TCP has no handshake to time") {
    ConnectionWatchdog dog(options, false, kStart);
    CHECK_FALSE(dog.enabled());
    CHECK(dog.check({0, 0, 0, true}, kStart + 10s, elapsed) == Verdict::kFine);
  }
  SECTION("the idle limit covers a handshaking connection too") {
    options.handshake_timeout = 0ms;
    options.idle_timeout = 300ms;
    ConnectionWatchdog dog(options, true, kStart);
    CHECK(dog.check({0, 0, 0, true}, kStart + 300ms, elapsed) == Verdict::kIdle);
  }
}
