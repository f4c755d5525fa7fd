// The inbox queue: FIFO per producer, exactly-once delivery, the
// empty -> non-empty report, and the mid-push gap that must not lose a node.
#include "spool/mpsc_queue.h"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

namespace {

struct Item : spool::MpscHook {
  std::uint32_t producer = 0;
  std::uint32_t sequence = 0;
};

using Queue = spool::MpscQueue<Item>;

Item* popOne(Queue& queue) {
  Item* out = nullptr;
  return queue.pop(out) == spool::PopStatus::kItem ? out : nullptr;
}

}  // namespace

namespace spool {
/// Splits push() at the point where a producer can be preempted: after its
/// exchange on the tail, before it links the node in.
struct MpscQueueTestAccess {
  template <typename T>
  static MpscHook* exchangeOnly(MpscQueue<T>& queue, T* node) {
    node->mpsc_next.store(nullptr);
    return queue.tail_.exchange(node);
  }
  template <typename T>
  static void link(MpscQueue<T>& queue, MpscHook* prev, T* node) {
    if (prev == nullptr) {
      queue.head_.store(node);
    } else {
      prev->mpsc_next.store(node);
    }
  }
};
}  // namespace spool

using spool::MpscQueueTestAccess;

TEST_CASE("an empty queue pops nothing", "[mpsc][unit]") {
  Queue queue;
  Item* out = nullptr;
  CHECK(queue.empty());
  CHECK(queue.pop(out) == spool::PopStatus::kEmpty);
}

TEST_CASE("push reports only the empty to non-empty transition", "[mpsc][unit]") {
  Queue queue;
  Item a, b, c;
  CHECK(queue.push(&a));
  CHECK_FALSE(queue.push(&b));
  CHECK_FALSE(queue.push(&c));
  CHECK(popOne(queue) == &a);
  CHECK(popOne(queue) == &b);
  CHECK(popOne(queue) == &c);
  CHECK(queue.empty());
  SECTION("and again once drained") {
    CHECK(queue.push(&a));
    CHECK(popOne(queue) == &a);
  }
}

TEST_CASE("nodes come out in push order and can be pushed again", "[mpsc][unit]") {
  Queue queue;
  std::vector<Item> items(100);
  for (int round = 0; round < 3; ++round) {
    for (auto& item : items) {
      queue.push(&item);
    }
    for (auto& item : items) {
      REQUIRE(popOne(queue) == &item);
    }
    REQUIRE(queue.empty());
  }
}

TEST_CASE("interleaved pushes and pops keep FIFO order", "[mpsc][unit]") {
  Queue queue;
  Item a, b, c;
  queue.push(&a);
  CHECK(popOne(queue) == &a);  // the last node leaves: tail goes back to null
  CHECK(queue.push(&b));        // so this push sees an empty queue again
  queue.push(&c);
  CHECK(popOne(queue) == &b);
  CHECK(popOne(queue) == &c);
}

TEST_CASE("a producer stalled mid-push loses nothing", "[mpsc][unit]") {
  Queue queue;
  Item a, b, c;
  Item* out = nullptr;
  SECTION("into an empty queue") {
    auto* prev = MpscQueueTestAccess::exchangeOnly(queue, &a);
    CHECK(prev == nullptr);
    CHECK_FALSE(queue.empty());
    CHECK(queue.pop(out) == spool::PopStatus::kPending);
    CHECK(queue.pop(out) == spool::PopStatus::kPending);  // retrying is harmless
    MpscQueueTestAccess::link(queue, prev, &a);
    CHECK(popOne(queue) == &a);
    CHECK(queue.pop(out) == spool::PopStatus::kEmpty);
  }
  SECTION("behind the last node") {
    queue.push(&a);
    auto* prev = MpscQueueTestAccess::exchangeOnly(queue, &b);
    CHECK(prev == &a);
    // `a` cannot leave yet: its successor is not linked, and taking it would
    // strand `b`. The consumer must come back later.
    CHECK(queue.pop(out) == spool::PopStatus::kPending);
    MpscQueueTestAccess::link(queue, prev, &b);
    CHECK(popOne(queue) == &a);
    CHECK(popOne(queue) == &b);
    CHECK(queue.empty());
  }
  SECTION("behind several nodes") {
    queue.push(&a);
    queue.push(&b);
    auto* prev = MpscQueueTestAccess::exchangeOnly(queue, &c);
    CHECK(popOne(queue) == &a);
    CHECK(queue.pop(out) == spool::PopStatus::kPending);
    MpscQueueTestAccess::link(queue, prev, &c);
    CHECK(popOne(queue) == &b);
    CHECK(popOne(queue) == &c);
  }
}

TEST_CASE("stress: exactly-once delivery and per-producer order", "[mpsc][concurrency][stress]") {
  constexpr int kProducers = 4;
  constexpr std::uint32_t kPerProducer = 2'500'000;  // 10M nodes in all
  Queue queue;
  std::vector<std::unique_ptr<Item[]>> items;
  for (int p = 0; p < kProducers; ++p) {
    items.push_back(std::make_unique<Item[]>(kPerProducer));
  }
  std::atomic<int> ready{0};
  std::atomic<std::uint64_t> transitions{0};

  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      ready.fetch_add(1);
      while (ready.load() < kProducers + 1) {
      }
      std::uint64_t mine = 0;
      for (std::uint32_t i = 0; i < kPerProducer; ++i) {
        Item& item = items[p][i];
        item.producer = static_cast<std::uint32_t>(p);
        item.sequence = i;
        mine += queue.push(&item) ? 1 : 0;
      }
      transitions.fetch_add(mine);
    });
  }

  std::vector<std::uint32_t> next(kProducers, 0);
  std::uint64_t received = 0;
  std::uint64_t pending_seen = 0;
  std::uint64_t order_errors = 0;
  const auto start = std::chrono::steady_clock::now();
  ready.fetch_add(1);
  const auto deadline = start + std::chrono::seconds(120);
  while (received < std::uint64_t{kProducers} * kPerProducer &&
         std::chrono::steady_clock::now() < deadline) {
    Item* out = nullptr;
    const auto status = queue.pop(out);
    if (status == spool::PopStatus::kItem) {
      if (out->sequence != next[out->producer]) {
        ++order_errors;
      }
      next[out->producer] = out->sequence + 1;
      ++received;
    } else if (status == spool::PopStatus::kPending) {
      ++pending_seen;
    }
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (auto& t : producers) {
    t.join();
  }
  WARN("mpsc stress: " << received << " nodes in " << seconds << " s = "
                       << static_cast<std::uint64_t>(received / seconds) << " nodes/s; "
                       << transitions.load() << " empty->non-empty pushes, " << pending_seen
                       << " pops saw a mid-push gap");
  CHECK(order_errors == 0);
  REQUIRE(received == std::uint64_t{kProducers} * kPerProducer);
  for (int p = 0; p < kProducers; ++p) {
    CHECK(next[p] == kPerProducer);
  }
  Item* out = nullptr;
  CHECK(queue.pop(out) == spool::PopStatus::kEmpty);
  // Every transition is matched by a pop that emptied the queue (or the first push).
  CHECK(transitions.load() >= 1);
}
