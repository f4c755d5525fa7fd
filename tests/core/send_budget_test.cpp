// The send budget's accounting and its refusal / onWritable protocol, without
// a loop: the same rules on every backend.
#include "send_budget.h"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

using spool::core::SendBudget;

TEST_CASE("a send is accepted while the backlog before it is under the high watermark",
          "[budget]") {
  SendBudget budget(100, 40);
  CHECK(budget.reserve(60));
  CHECK(budget.reserve(60));  // the backlog before it (60) was under 100
  CHECK(budget.backlog() == 120);
  CHECK_FALSE(budget.reserve(1));  // at 120: refused, nothing accounted
  CHECK(budget.backlog() == 120);
}

TEST_CASE("a refusal is owed one onWritable once the backlog falls to the low watermark",
          "[budget]") {
  SendBudget budget(100, 40);
  REQUIRE(budget.reserve(100));
  REQUIRE_FALSE(budget.reserve(10));
  std::size_t now = budget.retire(50);
  CHECK(now == 50);
  CHECK_FALSE(budget.writableOwed(now));  // 50 is still above 40
  now = budget.retire(10);
  CHECK(now == 40);
  CHECK(budget.writableOwed(now));
  CHECK(budget.takeRefusal());
  CHECK_FALSE(budget.takeRefusal());  // once per refusal episode
  CHECK_FALSE(budget.writableOwed(budget.retire(40)));
}

TEST_CASE("without a refusal nothing is owed", "[budget]") {
  SendBudget budget(100, 40);
  REQUIRE(budget.reserve(30));
  CHECK_FALSE(budget.writableOwed(budget.retire(30)));
}

TEST_CASE("a refusal that races the loop's last retirement is retried, not left without onWritable",
          "[budget][concurrency]") {
  // One producer and one "loop" play the real protocol: the loop retires
  // what was accepted and, after each retirement, announces onWritable when
  // writableOwed() && takeRefusal(); a refused producer waits for that
  // announcement. The loop retires only when the backlog is at the high
  // watermark, so refusals are frequent and the producer's next reserve()
  // often races the retirement that empties the budget. If reserve() gave
  // up after raising the flag (no retry), a retirement that read the flag
  // just before it was raised would leave the producer refused with nothing
  // left to retire: the loop has retired everything and checked the flag
  // after it, and no announcement came. That state is detected exactly, not
  // by a timeout: the loop publishes how many bytes it has retired *and*
  // checked the flag behind. One producer: a second one would rescue a
  // stranded refusal with refusals of its own and hide the lost wake-up.
  constexpr std::size_t kHigh = 4096;
  constexpr std::size_t kLow = 1024;
  constexpr std::size_t kSize = 512;
  constexpr int kRounds = 200'000;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  SendBudget budget(kHigh, kLow);
  std::atomic<std::uint64_t> accepted{0};   // bytes the producer was granted
  std::atomic<std::uint64_t> checked{0};    // bytes retired, with the flag read after them
  std::atomic<std::uint64_t> announced{0};  // onWritable() calls
  std::atomic<bool> done{false};
  std::jthread loop([&] {
    std::uint64_t retired = 0;
    while (!done.load(std::memory_order_acquire) && std::chrono::steady_clock::now() < deadline) {
      const std::uint64_t target = accepted.load(std::memory_order_acquire);
      if (target - retired < kHigh) {
        continue;  // let the backlog reach the high watermark first
      }
      const std::size_t now = budget.retire(target - retired);
      retired = target;
      if (budget.writableOwed(now) && budget.takeRefusal()) {
        announced.fetch_add(1, std::memory_order_release);
      }
      checked.store(retired, std::memory_order_release);
    }
  });
  std::uint64_t refusals = 0;
  std::uint64_t stranded = 0;  // refused with the loop idle and nothing announced
  std::uint64_t timed_out = 0;
  std::uint64_t mine = 0;  // what this thread was granted (== accepted)
  for (int i = 0; i < kRounds && stranded == 0 && timed_out == 0; ++i) {
    const std::uint64_t before = announced.load(std::memory_order_acquire);
    if (budget.reserve(kSize)) {
      mine += kSize;
      accepted.store(mine, std::memory_order_release);
      continue;
    }
    ++refusals;
    // Wait for the announcement; the loop retires only at the high
    // watermark, so once it has checked everything we were granted and said
    // nothing, nothing more will come.
    for (;;) {
      if (announced.load(std::memory_order_acquire) != before) {
        break;
      }
      if (checked.load(std::memory_order_acquire) == mine &&
          announced.load(std::memory_order_acquire) == before) {
        ++stranded;
        break;
      }
      if (std::chrono::steady_clock::now() >= deadline) {
        ++timed_out;
        break;
      }
    }
  }
  done.store(true, std::memory_order_release);
  loop.join();
  INFO(refusals << " refusals, " << announced.load() << " onWritable");
  CHECK(refusals > 0);
  CHECK(stranded == 0);
  CHECK(timed_out == 0);
}
