// The inbox queue: FIFO per producer, exactly-once delivery, the
// empty -> non-empty report, and the mid-push gap that must not lose a node.
#include "spool/mpsc_queue.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace {

struct Item : spool::MpscHook {
  std::uint32_t producer = 0;
  std::uint32_t sequence = 0;
  // The stress test's record, each field written by one side only.
  bool reported = false;         ///< producer: push() returned true
  std::uint32_t begun_seen = 0;  ///< producer: the consumer's `begun` right after the push
  std::uint32_t position = 0;    ///< consumer: index in pop order
  bool after_empty = false;      ///< consumer: the queue was seen empty just before it
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

TEST_CASE("push reports exactly the pushes that find the queue empty", "[mpsc][unit]") {
  // '+' pushes a node, '-' pops one. A push reports true exactly when the
  // queue held nothing just before it: here pushes 1, 4, 5, 6, 9 and 13.
  const std::string script = "+++---+-+-++-+--++-+-+--+-";
  const std::vector<bool> expected{true,  false, false, true,  true,  true, false,
                                   false, true,  false, false, false, true};
  Queue queue;
  std::vector<Item> items(expected.size());
  std::vector<bool> reports;
  std::size_t popped = 0;
  for (const char op : script) {
    if (op == '+') {
      reports.push_back(queue.push(&items[reports.size()]));
    } else {
      REQUIRE(popOne(queue) == &items[popped++]);
    }
  }
  CHECK(reports == expected);
  CHECK(std::count(reports.begin(), reports.end(), true) == 6);
  CHECK(queue.empty());
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
  CHECK(queue.push(&b));       // so this push sees an empty queue again
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

TEST_CASE("of pushes racing into an empty queue, exactly one reports it", "[mpsc][concurrency]") {
  // Each round the queue starts empty, every producer pushes one node at
  // once, and only then does the consumer pop them all: exactly one push
  // found the queue empty, whichever won the race.
  constexpr int kProducers = 4;
  constexpr int kRounds = 5000;
  Queue queue;
  std::vector<Item> items(kProducers);
  std::barrier sync(kProducers + 1);
  std::atomic<int> reports{0};
  std::vector<std::jthread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      for (int round = 0; round < kRounds; ++round) {
        sync.arrive_and_wait();  // the queue is empty
        reports.fetch_add(queue.push(&items[p]) ? 1 : 0);
        sync.arrive_and_wait();  // every push is done
      }
    });
  }
  std::vector<int> wrong_rounds;  // reports other than exactly one
  int lost = 0;
  for (int round = 0; round < kRounds; ++round) {
    sync.arrive_and_wait();
    sync.arrive_and_wait();
    for (int i = 0; i < kProducers; ++i) {
      lost += popOne(queue) == nullptr ? 1 : 0;  // every push completed: no gap
    }
    if (const int n = reports.exchange(0); n != 1 && wrong_rounds.size() < 10) {
      wrong_rounds.push_back(n);
    }
  }
  producers.clear();
  CHECK(lost == 0);
  CHECK(wrong_rounds.empty());
  CHECK(queue.empty());
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
  // The pop-order index of the node the consumer is about to pop, stored
  // before each pop() call. A push that finds the queue empty comes after
  // the pop that emptied it, so it reads at least that pop's index.
  std::atomic<std::uint32_t> begun{0};

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
        item.reported = queue.push(&item);
        item.begun_seen = begun.load(std::memory_order_seq_cst);
        mine += item.reported ? 1 : 0;
      }
      transitions.fetch_add(mine);
    });
  }

  std::vector<std::uint32_t> next(kProducers, 0);
  std::uint64_t received = 0;
  std::uint64_t pending_seen = 0;
  std::uint64_t order_errors = 0;
  std::uint64_t empty_seen = 0;
  bool seen_empty = true;  // the first node goes into an empty queue
  const auto start = std::chrono::steady_clock::now();
  ready.fetch_add(1);
  const auto deadline = start + std::chrono::seconds(120);
  while (received < std::uint64_t{kProducers} * kPerProducer &&
         std::chrono::steady_clock::now() < deadline) {
    begun.store(static_cast<std::uint32_t>(received), std::memory_order_seq_cst);
    Item* out = nullptr;
    const auto status = queue.pop(out);
    if (status == spool::PopStatus::kItem) {
      if (out->sequence != next[out->producer]) {
        ++order_errors;
      }
      next[out->producer] = out->sequence + 1;
      out->position = static_cast<std::uint32_t>(received);
      out->after_empty = std::exchange(seen_empty, false);
      ++received;
    } else if (status == spool::PopStatus::kPending) {
      ++pending_seen;
    } else {
      empty_seen += seen_empty ? 0 : 1;
      seen_empty = true;
    }
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (auto& t : producers) {
    t.join();
  }
  WARN("mpsc stress: " << received << " nodes in " << seconds
                       << " s = " << static_cast<std::uint64_t>(received / seconds) << " nodes/s; "
                       << transitions.load() << " empty->non-empty pushes, " << pending_seen
                       << " pops saw a mid-push gap");
  CHECK(order_errors == 0);
  REQUIRE(received == std::uint64_t{kProducers} * kPerProducer);
  for (int p = 0; p < kProducers; ++p) {
    CHECK(next[p] == kPerProducer);
  }
  Item* out = nullptr;
  CHECK(queue.pop(out) == spool::PopStatus::kEmpty);
  // The empty -> non-empty report, node by node. A node popped right after
  // pop() said kEmpty went into an empty queue: its push must have said so
  // (a report that is always false, or given to the wrong push, fails
  // here). A node whose push said so came after the pop that emptied the
  // queue, so its producer saw that pop begun (a report that is always
  // true, or true for a push behind other nodes, fails here).
  std::uint64_t reported = 0;
  std::uint64_t unreported_after_empty = 0;
  std::uint64_t reported_behind_nodes = 0;
  for (int p = 0; p < kProducers; ++p) {
    for (std::uint32_t i = 0; i < kPerProducer; ++i) {
      const Item& item = items[p][i];
      reported += item.reported ? 1 : 0;
      unreported_after_empty += item.after_empty && !item.reported ? 1 : 0;
      reported_behind_nodes +=
          item.reported && item.position > 0 && item.begun_seen < item.position - 1 ? 1 : 0;
    }
  }
  INFO(empty_seen << " times the consumer found the queue empty");
  CHECK(reported == transitions.load());
  CHECK(unreported_after_empty == 0);
  CHECK(reported_behind_nodes == 0);
  CHECK(transitions.load() >= empty_seen + 1);  // each emptying seen, and the first push
}
