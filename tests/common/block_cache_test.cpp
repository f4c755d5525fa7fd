// The per-thread block cache behind Buffer::allocate: blocks freed on another
// thread come back to their owner and are reused; a cache outlives its thread.
#include "block_cache.h"

#include <catch2/catch.hpp>

#include <atomic>
#include <set>
#include <thread>
#include <vector>

#include "spool/buffer.h"

using spool::Buffer;
using spool::detail::BufferBlock;

TEST_CASE("small buffers are reused by the thread that made them", "[buffer][cache][unit]") {
  Buffer first = Buffer::allocate(64);
  const std::byte* address = first.data();
  first.reset();
  Buffer second = Buffer::allocate(64);
  CHECK(second.data() == address);  // LIFO reuse, no allocator call
  CHECK(second.capacity() >= 64);
}

TEST_CASE("a 16 KiB payload (a TLS record's worth) comes from the cache too", "[buffer][cache][unit]") {
  // Above the cache, the loop's batched frees let glibc trim the producer's
  // arena and the producer re-faulted fresh pages for every block.
  using spool::detail::BlockCache;
  BufferBlock* block = BlockCache::allocate((16u << 10) + sizeof(BufferBlock), sizeof(BufferBlock));
  REQUIRE(block != nullptr);  // nullptr: above the largest class, left to malloc
  CHECK(block->capacity >= (16u << 10));
  BlockCache::free(block);
}

TEST_CASE("large buffers bypass the cache", "[buffer][cache][unit]") {
  Buffer big = Buffer::allocate(64 << 10);
  CHECK(big.capacity() == (64u << 10));
  big.append(std::string_view("x"));
  CHECK(big.view() == "x");
}

TEST_CASE("blocks freed on another thread return to their owner", "[buffer][cache][concurrency]") {
  constexpr int kBlocks = 1000;  // more than one hand-back batch
  std::vector<Buffer> made;
  std::set<const std::byte*> addresses;
  for (int i = 0; i < kBlocks; ++i) {
    made.push_back(Buffer::allocate(100));
    addresses.insert(made.back().data());
  }
  std::thread loop([&] {
    for (auto& buffer : made) {
      buffer.reset();  // freed away from the owner: batched back to it
    }
    spool::detail::flushThreadFrees();
  });
  loop.join();
  int reused = 0;
  std::vector<Buffer> again;
  for (int i = 0; i < kBlocks; ++i) {
    again.push_back(Buffer::allocate(100));
    reused += addresses.count(again.back().data()) != 0 ? 1 : 0;
  }
  CHECK(reused == kBlocks);
}

TEST_CASE("a cache outlives its thread and is adopted by the next one", "[buffer][cache][concurrency]") {
  constexpr int kInFlight = 200;
  std::vector<Buffer> in_flight;
  std::set<const spool::detail::BlockCache*> producer_caches;
  std::thread producer([&] {
    for (int i = 0; i < kInFlight; ++i) {
      in_flight.push_back(Buffer::allocate(32));
      BufferBlock* block = in_flight.back().release();
      producer_caches.insert(block->cache);
      in_flight.back() = Buffer::adopt(block);
    }
  });  // exits with its blocks still in flight: its cache is abandoned
  producer.join();
  REQUIRE(producer_caches.size() == 1);
  const spool::detail::BlockCache* abandoned = *producer_caches.begin();
  REQUIRE(abandoned != nullptr);
  std::set<const std::byte*> addresses;
  for (auto& buffer : in_flight) {
    addresses.insert(buffer.data());
    buffer.reset();  // returned to the abandoned cache: must not crash or leak
  }
  spool::detail::flushThreadFrees();
  REQUIRE(addresses.size() == std::size_t{kInFlight});

  // The next thread to start adopts that cache (the last one abandoned) and
  // takes the blocks freed after its owner had gone. A cache left by an
  // earlier test may hold free blocks of its own, served first: allocate
  // until every returned block is back, within a bound far above that.
  constexpr int kBound = 200'000;
  std::set<const spool::detail::BlockCache*> next_caches;
  std::size_t returned = 0;
  int allocated = 0;
  bool intact = true;
  std::thread next([&] {
    std::vector<Buffer> mine;
    while (returned < addresses.size() && allocated < kBound) {
      Buffer buffer = Buffer::allocate(32);
      buffer.append(std::string_view("ok"));
      intact = intact && buffer.view() == "ok";
      returned += addresses.count(buffer.data());
      BufferBlock* block = buffer.release();
      next_caches.insert(block->cache);
      mine.push_back(Buffer::adopt(block));
      ++allocated;
    }
  });
  next.join();
  INFO("the next thread made " << allocated << " allocations");
  CHECK(next_caches == std::set<const spool::detail::BlockCache*>{abandoned});
  CHECK(returned == addresses.size());
  CHECK(intact);
}

TEST_CASE("stress: producers allocate, a consumer frees", "[buffer][cache][concurrency][stress]") {
  constexpr int kProducers = 3;
  constexpr int kPerProducer = 200'000;
  std::atomic<BufferBlock*> mailbox[kProducers] = {};
  std::atomic<int> done{0};
  std::vector<std::thread> producers;
  std::atomic<long> bad{0};
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      for (int i = 0; i < kPerProducer; ++i) {
        Buffer buffer = Buffer::allocate(static_cast<std::size_t>(16 + (i % 7) * 300));
        buffer.append(std::string_view("payload"));
        BufferBlock* block = buffer.release();
        // Hand over one at a time; wait until the consumer took the last one.
        while (mailbox[p].load(std::memory_order_acquire) != nullptr) {
          std::this_thread::yield();
        }
        mailbox[p].store(block, std::memory_order_release);
      }
      done.fetch_add(1);
    });
  }
  long freed = 0;
  while (done.load() < kProducers || freed < long{kProducers} * kPerProducer) {
    for (auto& slot : mailbox) {
      if (BufferBlock* block = slot.exchange(nullptr, std::memory_order_acq_rel)) {
        Buffer buffer = Buffer::adopt(block);
        bad += buffer.view() == "payload" ? 0 : 1;
        ++freed;
      }
    }
  }
  for (auto& t : producers) {
    t.join();
  }
  spool::detail::flushThreadFrees();
  CHECK(bad == 0);
  CHECK(freed == long{kProducers} * kPerProducer);
}
