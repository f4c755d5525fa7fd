// The Store's ways of giving memory back: reclaiming dead (expired or
// flushed) items, the crawler's walk, and eviction.
#include <algorithm>

#include "store.h"

namespace spoold {
namespace {

/// How many other shards an allocation may lock to reclaim dead items:
/// bounds the work a store does for memory it may not even need.
constexpr std::size_t kReclaimShards = 2;
/// A shard this small is walked whole after its tail is reclaimed, to make
/// its hint exact (a bigger one waits for the crawler).
constexpr std::size_t kSmallShard = 8;

RelTime earlier(RelTime a, RelTime b) noexcept {
  return a == 0 ? b : (b == 0 ? a : std::min(a, b));
}

}  // namespace

void Store::noteExpiry(Shard& shard, RelTime exptime) noexcept {
  if (exptime == 0) {
    return;
  }
  const RelTime hint = shard.dead_hint.load(std::memory_order_relaxed);
  if (hint != 0 && hint <= exptime) {
    return;  // the common case, no write: later items expire later
  }
  shard.dead_hint.store(exptime, std::memory_order_relaxed);
  RelTime global = dead_hint_.load(std::memory_order_relaxed);
  while ((global == 0 || exptime < global) &&
         !dead_hint_.compare_exchange_weak(global, exptime, std::memory_order_relaxed)) {
  }
}

void Store::recomputeHint(Shard& shard, RelTime now) const noexcept {
  RelTime hint = 0;
  for (const Item* item = shard.lru_head; item != nullptr; item = item->lru_next) {
    hint = earlier(hint, isDead(*item, now) ? now : item->exptime);
  }
  // A delayed flush_all kills the items older than its deadline then.
  const RelTime oldest_live = oldest_live_.load(std::memory_order_relaxed);
  if (shard.lru_head != nullptr && oldest_live > now) {
    hint = earlier(hint, oldest_live);
  }
  shard.dead_hint.store(hint, std::memory_order_relaxed);
}

bool Store::mayHoldDead(std::size_t index) const noexcept {
  return hintDue(shards_[index % kShards].dead_hint.load(std::memory_order_relaxed), clock_.now());
}

void Store::reclaim(Shard& shard, Item& item) {
  shard.classes.bump(item.slab_class, ClassCounter::kReclaimed);
  if (!item.fetched) {
    shard.classes.bump(item.slab_class, ClassCounter::kExpiredUnfetched);
  }
  unlink(shard, item);
}

void Store::reclaimTail(Shard& shard) {
  // memcached's lru_pull_tail before an allocation: dead items at the tail
  // give their memory back; the first live one ends the search.
  const RelTime now = clock_.now();
  for (int tries = 5; tries > 0 && shard.lru_tail != nullptr && isDead(*shard.lru_tail, now);
       --tries) {
    reclaim(shard, *shard.lru_tail);
  }
  if (shard.table.size() <= kSmallShard &&
      hintDue(shard.dead_hint.load(std::memory_order_relaxed), now)) {
    recomputeHint(shard, now);
  }
}

void Store::reclaimBeforeAlloc(const Shard& own) {
  RelTime global = dead_hint_.load(std::memory_order_relaxed);
  if (global == 0 || global > clock_.now()) {
    return;  // nothing can be dead yet: one load, the usual case
  }
  const RelTime now = clock_.now();
  const auto start = static_cast<std::size_t>(&own - shards_.data());
  std::size_t locked = 0;
  RelTime next = 0;  // the earliest hint still in the future
  for (std::size_t i = 0; i < kShards; ++i) {
    Shard& shard = shards_[(start + i) % kShards];
    if (hintDue(shard.dead_hint.load(std::memory_order_relaxed), now)) {
      if (locked++ == kReclaimShards) {
        return;  // more to reclaim: the next allocation or the maintainer goes on
      }
      std::lock_guard lock(shard.mutex);
      reclaimTail(shard);
    }
    const RelTime hint = shard.dead_hint.load(std::memory_order_relaxed);
    if (hintDue(hint, now)) {
      // Dead items deeper than the tail: the maintainer's crawl finds them.
      // Left due, the hint would send every allocation to this shard's lock
      // until then; allocations look again in a second.
      dead_hint_.compare_exchange_strong(global, now + 1, std::memory_order_relaxed);
      return;
    }
    next = earlier(next, hint);
  }
  // No shard expects a dead item before `next`. Unless a store lowered the
  // hint meanwhile (then the exchange fails), allocations look no more till then.
  dead_hint_.compare_exchange_strong(global, next, std::memory_order_relaxed);
}

CrawlTally Store::crawlShard(std::size_t index, const ClassMask& classes) {
  Shard& shard = shards_[index % kShards];
  CrawlTally tally;
  std::lock_guard lock(shard.mutex);
  const RelTime now = clock_.now();
  for (Item* item = shard.lru_tail; item != nullptr;) {
    Item* next = item->lru_prev;  // `item` may be freed below
    const std::uint8_t id = item->slab_class;
    if (classes.test(id % classes.size())) {
      ++tally.checked;
      shard.classes.bump(id, ClassCounter::kCrawlerChecked);
      if (isDead(*item, now)) {
        // As memcached's crawler: crawler_reclaimed and expired_unfetched,
        // not `reclaimed` (the allocator's).
        ++tally.reclaimed;
        shard.classes.bump(id, ClassCounter::kCrawlerReclaimed);
        if (!item->fetched) {
          shard.classes.bump(id, ClassCounter::kExpiredUnfetched);
        }
        unlink(shard, *item);
      }
    }
    item = next;
  }
  recomputeHint(shard, now);
  return tally;
}

void Store::evictIfNeeded(Shard& own) {
  // Bounded: at most a few passes over the shards, one item at a time.
  std::size_t budget = kShards * 4;
  if (!over()) {
    return;
  }
  {
    std::lock_guard lock(own.mutex);
    while (over() && budget > 0 && evictOne(own, own.lru_head)) {
      --budget;
    }
  }
  while (over() && budget-- > 0) {
    Shard& shard = shards_[evict_cursor_.fetch_add(1, std::memory_order_relaxed) % kShards];
    std::lock_guard lock(shard.mutex);
    evictOne(shard, nullptr);
  }
}

bool Store::evictOne(Shard& shard, const Item* keep) {
  Item* victim = shard.lru_tail;
  if (victim == nullptr || victim == keep) {
    return false;
  }
  const RelTime now = clock_.now();
  if (isDead(*victim, now)) {
    reclaim(shard, *victim);
    return true;
  }
  if (!limits_.evict) {
    return false;  // -M: live items stay
  }
  const std::uint8_t id = victim->slab_class;
  shard.classes.bump(id, ClassCounter::kEvicted);
  if (victim->exptime != 0) {
    shard.classes.bump(id, ClassCounter::kEvictedNonzero);
  }
  if (!victim->fetched) {
    shard.classes.bump(id, ClassCounter::kEvictedUnfetched);
  }
  evicted_time_[id % ClassCounters::kClasses].store(now - victim->time, std::memory_order_relaxed);
  watchEviction(*victim, now);
  unlink(shard, *victim);
  return true;
}

}  // namespace spoold
