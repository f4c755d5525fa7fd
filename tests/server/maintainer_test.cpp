// The store's background maintainer (memcached's LRU maintainer and
// crawler): dead items go without any client touching them. The clock is
// driven by the tests and every wait is on a pass of the maintainer's thread.
#include <catch2/catch.hpp>

#include <string>

#include "server_test_support.h"
#include "store_maintainer.h"

namespace spoold::test {
namespace {

constexpr auto kLongPeriod = std::chrono::hours(1);  // passes only when woken

std::string key(int i) {
  return "key" + std::to_string(i);
}

ClassMask allClasses() {
  return ClassMask{}.set();
}

/// Stores ten items that expire in 10 s and ten that never do.
void fill(Store& store, const Clock& clock) {
  for (int i = 10; i < 30; ++i) {
    REQUIRE(store.store(StoreMode::kSet, key(i), "value", 0, i < 20 ? clock.toRelative(10) : 0,
                        0) == StoreResult::kStored);
  }
}

}  // namespace

TEST_CASE("maintainer: expired items are reclaimed without any client touching them",
          "[server][maintainer]") {
  Clock clock;
  Store store(StoreLimits{}, clock);
  StoreMaintainer maintainer(store, {true, true, std::chrono::milliseconds(1)});
  maintainer.start();
  fill(store, clock);
  clock.advance(11);
  // No wake, no request: the thread's own period brings the next pass.
  REQUIRE(maintainer.waitForPass(maintainer.nextPass(), kTimeout));
  const StoreCounters c = store.counters();
  CHECK(c.curr_items == 10);
  CHECK(c.crawler_reclaimed == 10);
  CHECK(c.crawler_items_checked >= 10);  // the shards that held dead items, whole
  CHECK(c.crawler_items_checked <= 20);
  CHECK(c.expired_unfetched == 10);
  CHECK(c.reclaimed == 0);    // the allocator's counter
  CHECK(c.get_expired == 0);  // nobody asked for them
  CHECK(maintainer.stats().starts >= 1);
  CHECK(maintainer.stats().juggles >= 1);
  // Nothing due any more: later passes crawl no shard.
  const std::uint64_t starts = maintainer.stats().starts;
  REQUIRE(maintainer.waitForPass(maintainer.wake(), kTimeout));
  CHECK(maintainer.stats().starts == starts);
}

TEST_CASE("maintainer: with no_lru_maintainer only lru_crawler crawl reclaims",
          "[server][maintainer]") {
  Clock clock;
  Store store(StoreLimits{}, clock);
  StoreMaintainer maintainer(store, {false, true, kLongPeriod});
  fill(store, clock);
  clock.advance(11);
  // Before the thread runs: the request waits, a second one is busy.
  CHECK(maintainer.crawl(allClasses()) == StoreMaintainer::CrawlStart::kStarted);
  CHECK(maintainer.crawl(allClasses()) == StoreMaintainer::CrawlStart::kBusy);
  maintainer.start();
  REQUIRE(maintainer.waitForPass(maintainer.wake(), kTimeout));
  CHECK(store.counters().crawler_reclaimed == 10);
  CHECK(maintainer.stats().starts == 1);
  CHECK_FALSE(maintainer.stats().running);

  fill(store, clock);
  clock.advance(11);
  REQUIRE(maintainer.waitForPass(maintainer.wake(), kTimeout));
  CHECK(store.counters().curr_items == 20);  // no automatic crawl
  maintainer.disableCrawler();
  CHECK(maintainer.crawl(allClasses()) == StoreMaintainer::CrawlStart::kDisabled);
  CHECK(maintainer.enableCrawler());
  CHECK_FALSE(maintainer.enableCrawler());  // "ERROR failed to start lru crawler thread"
}

TEST_CASE("store: a crawl of some classes checks and reclaims only theirs",
          "[server][maintainer]") {
  Clock clock;
  Store store(StoreLimits{}, clock);
  const std::string big(5000, 'b');
  REQUIRE(store.store(StoreMode::kSet, "small", "s", 0, clock.toRelative(5), 0) ==
          StoreResult::kStored);
  REQUIRE(store.store(StoreMode::kSet, "big", big, 0, clock.toRelative(5), 0) ==
          StoreResult::kStored);
  clock.advance(6);
  const std::uint8_t small_class = store.slabClasses().classFor(Item::totalSize(5, 1, 0));
  CrawlTally total;
  for (std::size_t shard = 0; shard < Store::kShards; ++shard) {
    const CrawlTally tally = store.crawlShard(shard, ClassMask{}.set(small_class));
    total.checked += tally.checked;
    total.reclaimed += tally.reclaimed;
  }
  CHECK(total.checked == 1);
  CHECK(total.reclaimed == 1);
  CHECK(store.counters().curr_items == 1);
  CHECK(store.classUsage()[small_class].get(ClassCounter::kCrawlerReclaimed) == 1);
}

TEST_CASE("spoold: lru_crawler crawl reclaims expired items and counts them in stats",
          "[server][maintainer][e2e]") {
  const ExecMode mode = GENERATE(ExecMode::kInline, ExecMode::kWorkers);
  TestServer spoold(mode, TestServer::defaults(mode));
  ServerContext& ctx = spoold.server().context();
  RawClient client(spoold.port());
  REQUIRE(client.roundTrip("set gone 0 5 1\r\nx\r\n") == "STORED\r\n");
  REQUIRE(client.roundTrip("set kept 0 0 1\r\ny\r\n") == "STORED\r\n");
  ctx.clock.advance(6);
  CHECK(client.roundTrip("lru_crawler crawl all\r\n") == "OK\r\n");
  REQUIRE(ctx.maintainer.waitForPass(ctx.maintainer.wake(), kTimeout));
  const std::string stats = client.roundTrip("stats\r\n", "END\r\n");
  CHECK(stats.find("STAT curr_items 1\r\n") != std::string::npos);
  CHECK(stats.find("STAT crawler_reclaimed 1\r\n") != std::string::npos);
  CHECK(stats.find("STAT get_expired 0\r\n") != std::string::npos);
  CHECK(stats.find("STAT lru_crawler_running 0\r\n") != std::string::npos);
  CHECK(stats.find("STAT lru_crawler_starts ") != std::string::npos);
  CHECK(stats.find("STAT lru_maintainer_juggles ") != std::string::npos);
  CHECK(client.roundTrip("stats items\r\n", "END\r\n").find(":crawler_reclaimed 1\r\n") !=
        std::string::npos);

  CHECK(client.roundTrip("lru_crawler enable\r\n") ==
        "ERROR failed to start lru crawler thread\r\n");
  CHECK(client.roundTrip("lru_crawler disable\r\n") == "OK\r\n");
  CHECK(client.roundTrip("lru_crawler crawl all\r\n") == "CLIENT_ERROR lru crawler disabled\r\n");
  CHECK(client.roundTrip("stats settings\r\n", "END\r\n").find("STAT lru_crawler no\r\n") !=
        std::string::npos);
  CHECK(client.roundTrip("lru_crawler enable\r\n") == "OK\r\n");
  CHECK(client.roundTrip("lru_crawler metadump hash\r\n", "END\r\n").find("key=kept ") == 0);
}

}  // namespace spoold::test
