// The store's memory rules and per-class counters, without sockets: what
// `stats items|slabs` report must follow what the store did.
#include <catch2/catch.hpp>

#include <map>
#include <string>

#include "class_stats_report.h"
#include "server_context.h"
#include "store.h"

namespace spoold {
namespace {

const auto kNoop = [](Item&) {};

std::string key(int i) {
  return "key" + std::to_string(i);
}

/// The class `value` bytes under `key(0)` fall in.
std::uint8_t classOf(const Store& store, std::size_t value) {
  return store.slabClasses().classFor(Item::totalSize(key(0).size(), value, 0));
}

}  // namespace

TEST_CASE("store: evictions are counted per class and zeroed by stats reset",
          "[server][store][stats]") {
  Clock clock;
  Store store(StoreLimits{1u << 20, 64u << 10}, clock);
  const std::string value(1000, 'v');
  for (int i = 0; i < 3000; ++i) {
    REQUIRE(store.store(StoreMode::kSet, key(i), value, 0, i % 2 == 0 ? 0 : clock.toRelative(1000),
                        0) == StoreResult::kStored);
  }
  const std::uint8_t id = classOf(store, value.size());
  const Store::ClassUsage usage = store.classUsage()[id];
  const StoreCounters totals = store.counters();
  CHECK(totals.evictions > 0);
  CHECK(usage.get(ClassCounter::kEvicted) == totals.evictions);
  CHECK(usage.get(ClassCounter::kEvictedUnfetched) == totals.evictions);  // none was read
  CHECK(usage.get(ClassCounter::kEvictedNonzero) > 0);                    // half had an expiry
  CHECK(usage.get(ClassCounter::kEvictedNonzero) < totals.evictions);
  CHECK(usage.get(ClassCounter::kCmdSet) == 3000);
  CHECK(usage.items + totals.evictions == 3000);
  store.resetStats();
  CHECK(store.counters().evictions == 0);
  CHECK(store.counters().total_items == 0);
  CHECK(store.classUsage()[id].get(ClassCounter::kCmdSet) == 0);
  CHECK(store.classUsage()[id].items == usage.items);  // items stay
}

TEST_CASE("store: an expired item is reclaimed when a store reuses its memory",
          "[server][store][stats]") {
  Clock clock;
  Store store(StoreLimits{}, clock);
  REQUIRE(store.store(StoreMode::kSet, "short", "x", 0, clock.toRelative(10), 0) ==
          StoreResult::kStored);
  clock.advance(11);
  // Stores into every shard: the one that holds "short" finds it dead at
  // its LRU tail and reclaims it, as memcached's allocator does.
  for (int i = 0; i < 2000; ++i) {
    REQUIRE(store.store(StoreMode::kSet, key(i), "y", 0, 0, 0) == StoreResult::kStored);
  }
  const StoreCounters c = store.counters();
  CHECK(c.curr_items == 2000);
  CHECK(c.reclaimed == 1);
  CHECK(c.expired_unfetched == 1);
  CHECK(c.get_expired == 0);  // nobody asked for it
  CHECK(store.classUsage()[classOf(store, 1)].get(ClassCounter::kReclaimed) == 1);
}

TEST_CASE("store: expired items' memory is reused before the cache grows",
          "[server][store][stats]") {
  // memcached: ten 66 KB items with a 2 s TTL, and once they expired ten
  // more of the same size: total_malloced stays the same.
  ServerContext ctx(Settings{});
  std::map<std::string, std::string> stats;
  const auto malloced = [&] {
    reportSlabStats(ctx, [&](std::string_view name, std::string_view value) {
      stats[std::string(name)] = value;
    });
    return std::stoull(stats["total_malloced"]);
  };
  const std::string value(66 * 1024, 'v');
  for (int i = 10; i < 20; ++i) {  // keys of one length: items of one size
    REQUIRE(ctx.store.store(StoreMode::kSet, key(i), value, 0, ctx.clock.toRelative(2), 0) ==
            StoreResult::kStored);
  }
  const std::uint64_t before = malloced();
  const std::uint64_t bytes = ctx.store.counters().bytes;
  ctx.clock.advance(3);
  for (int i = 20; i < 30; ++i) {
    REQUIRE(ctx.store.store(StoreMode::kSet, key(i), value, 0, 0, 0) == StoreResult::kStored);
  }
  CHECK(malloced() == before);
  CHECK(ctx.store.counters().bytes == bytes);
  CHECK(ctx.store.counters().curr_items == 10);
  CHECK(ctx.store.counters().reclaimed == 10);
  CHECK(ctx.store.counters().get_expired == 0);  // nobody asked for them
}

TEST_CASE("store: a flushed item's memory is reused before the cache grows",
          "[server][store][stats]") {
  Clock clock;
  Store store(StoreLimits{}, clock);
  const std::string value(4000, 'v');
  for (int i = 10; i < 20; ++i) {
    REQUIRE(store.store(StoreMode::kSet, key(i), value, 0, 0, 0) == StoreResult::kStored);
  }
  const std::uint64_t bytes = store.counters().bytes;
  store.flushAll(0);
  clock.advance(1);
  for (int i = 20; i < 30; ++i) {
    REQUIRE(store.store(StoreMode::kSet, key(i), value, 0, 0, 0) == StoreResult::kStored);
  }
  CHECK(store.counters().bytes == bytes);
  CHECK(store.counters().reclaimed == 10);
}

TEST_CASE("store: -M refuses instead of evicting but reclaims expired items",
          "[server][store][stats]") {
  Clock clock;
  Store store(StoreLimits{1u << 20, 64u << 10, false}, clock);
  const std::string value(1000, 'v');
  int stored = 0;
  while (stored < 5000 && store.store(StoreMode::kSet, key(stored), value, 0, clock.toRelative(100),
                                      0) == StoreResult::kStored) {
    ++stored;
  }
  REQUIRE(stored < 5000);
  CHECK(store.counters().bytes <= (1u << 20));
  CHECK(store.counters().evictions == 0);
  CHECK(store.lookup(key(0), {}, kNoop));
  CHECK_FALSE(store.hasRoom("another", value.size(), 0));
  CHECK(store.classUsage()[classOf(store, value.size())].get(ClassCounter::kOutOfMemory) == 2);
  clock.advance(101);  // every item expires: their memory may be reused
  CHECK(store.store(StoreMode::kSet, "another", value, 0, 0, 0) == StoreResult::kStored);
  CHECK(store.counters().reclaimed >= 1);
  CHECK(store.counters().evictions == 0);
}

TEST_CASE("store: a smaller memory limit evicts down to it at once", "[server][store]") {
  Clock clock;
  Store store(StoreLimits{8u << 20, 64u << 10}, clock);
  const std::string value(1000, 'v');
  for (int i = 0; i < 4000; ++i) {
    REQUIRE(store.store(StoreMode::kSet, key(i), value, 0, 0, 0) == StoreResult::kStored);
  }
  REQUIRE(store.counters().bytes > (2u << 20));
  REQUIRE(store.counters().evictions == 0);
  store.setMemoryLimit(1u << 20);
  CHECK(store.memoryLimit() == (1u << 20));
  CHECK(store.counters().bytes <= (1u << 20));
  CHECK(store.counters().evictions > 0);
  CHECK(store.lookup(key(3999), {}, kNoop));
  store.setMemoryLimit(8u << 20);  // growing evicts nothing
  const std::uint64_t evictions = store.counters().evictions;
  CHECK(store.store(StoreMode::kSet, "more", value, 0, 0, 0) == StoreResult::kStored);
  CHECK(store.counters().evictions == evictions);
}

TEST_CASE("stats slabs counts commands per class and stats items shows every item as COLD",
          "[server][stats]") {
  ServerContext ctx(Settings{});
  Store& store = ctx.store;
  store.store(StoreMode::kSet, "k", "1", 0, 0, 0);
  store.lookup("k", {}, kNoop);
  DeltaOutcome outcome;
  store.delta("k", true, 1, 0, outcome);
  store.touch("k", 0);
  store.store(StoreMode::kCas, "k", "3", 0, 0, 12345);
  std::map<std::string, std::string> stats;
  const StatSink sink = [&](std::string_view name, std::string_view value) {
    stats[std::string(name)] = value;
  };
  reportSlabStats(ctx, sink);
  reportItemStats(ctx, sink);
  CHECK(stats["1:cmd_set"] == "2");
  CHECK(stats["1:get_hits"] == "1");
  CHECK(stats["1:incr_hits"] == "1");
  CHECK(stats["1:touch_hits"] == "1");
  CHECK(stats["1:cas_badval"] == "1");
  CHECK(stats["1:used_chunks"] == "1");
  CHECK(stats["items:1:number_cold"] == "1");
  CHECK(stats["items:1:number_hot"] == "0");
  CHECK(stats["items:1:hits_to_cold"] == "2");
  CHECK(stats["active_slabs"] == "1");
}

}  // namespace spoold

namespace spoold {

TEST_CASE("store: -m charges each item its slab chunk, as memcached's allocator would",
          "[server][store][memory]") {
  Clock clock;
  const std::string value(100, 'v');
  // Keys of one length, so that every item has the same size.
  const auto fixed_key = [](int i) {
    std::string k = std::to_string(i);
    return "k" + std::string(8 - k.size(), '0') + k;
  };
  const std::size_t item_size = Item::totalSize(fixed_key(0).size(), value.size(), 0);
  const SlabClasses classes(1u << 20);
  const std::size_t chunk = classes.chunkSize(classes.classFor(item_size));
  REQUIRE(chunk > item_size);  // the case that matters: items smaller than their chunk
  constexpr std::size_t kFit = 2000;
  Store store(StoreLimits{kFit * chunk, 1u << 20}, clock);
  for (int i = 0; i < 3 * static_cast<int>(kFit); ++i) {
    REQUIRE(store.store(StoreMode::kSet, fixed_key(i), value, 0, 0, 0) == StoreResult::kStored);
  }
  // As many items as the limit holds chunks (the `bytes` stat still counts
  // item sizes, as memcached's does). Charged by item size it would keep
  // kFit * chunk / item_size, about 10% more than memcached, and its
  // memory would outgrow -m.
  CHECK(store.counters().curr_items == kFit);
  CHECK(store.counters().bytes == kFit * item_size);
}

}  // namespace spoold
