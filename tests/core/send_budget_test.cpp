// The send budget's accounting and its refusal / onWritable protocol, without
// a loop: the same rules on every backend.
#include "send_budget.h"

#include <catch2/catch.hpp>

#include <atomic>
#include <thread>
#include <vector>

using spool::core::SendBudget;

TEST_CASE("a send is accepted while the backlog before it is under the high watermark", "[budget]") {
  SendBudget budget(100, 40);
  CHECK(budget.reserve(60));
  CHECK(budget.reserve(60));  // the backlog before it (60) was under 100
  CHECK(budget.backlog() == 120);
  CHECK_FALSE(budget.reserve(1));  // at 120: refused, nothing accounted
  CHECK(budget.backlog() == 120);
}

TEST_CASE("a refusal is owed one onWritable once the backlog falls to the low watermark", "[budget]") {
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

TEST_CASE("a refused producer racing the loop's retirement is never left waiting", "[budget][concurrency]") {
  // Whenever a producer is refused, either the refusal flag stays raised
  // until the loop retires below the low watermark (so onWritable follows),
  // or the producer saw the retirement and was accepted. Check the invariant
  // the loop relies on: after everything is retired, a refusal that was not
  // followed by an acceptance has left the flag up.
  constexpr std::size_t kHigh = 4096;
  constexpr std::size_t kLow = 1024;
  constexpr int kRounds = 20000;
  SendBudget budget(kHigh, kLow);
  std::atomic<std::size_t> accepted{0};
  std::atomic<bool> done{false};
  std::jthread loop([&] {
    std::size_t retired = 0;
    while (!done.load(std::memory_order_acquire) || retired < accepted.load(std::memory_order_acquire)) {
      const std::size_t target = accepted.load(std::memory_order_acquire);
      if (target > retired) {
        budget.retire(target - retired);
        retired = target;
      }
    }
  });
  bool last_refused = false;
  for (int i = 0; i < kRounds; ++i) {
    if (budget.reserve(512)) {
      accepted.fetch_add(512, std::memory_order_release);
      last_refused = false;
    } else {
      last_refused = true;
    }
  }
  done.store(true, std::memory_order_release);
  loop.join();
  CHECK(budget.backlog() == 0);
  if (last_refused) {
    CHECK(budget.takeRefusal());
  }
}
