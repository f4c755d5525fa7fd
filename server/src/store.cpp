#include "store.h"

#include <algorithm>
#include <cassert>
#include <cstring>
#include <new>

#include "numbers.h"

namespace spoold {

void ItemDeleter::operator()(Item* item) const noexcept {
  item->~Item();
  ::operator delete(item);
}

ItemPtr makeItem(std::string_view key, std::size_t value_size) {
  assert(key.size() <= kMaxKeyLength);  // the protocols and tooLarge() refuse longer keys
  void* raw = ::operator new(sizeof(Item) + key.size() + value_size);
  ItemPtr item(new (raw) Item());
  item->key_size = static_cast<std::uint8_t>(key.size());  // callers check kMaxKeyLength
  item->value_size = static_cast<std::uint32_t>(value_size);
  std::memcpy(reinterpret_cast<char*>(item.get() + 1), key.data(), key.size());
  return item;
}

Store::Store(const StoreLimits& limits, const Clock& clock)
    : limits_(limits), clock_(clock), slabs_(limits.item_size_max, limits.growth_factor, limits.chunk_size),
      memory_limit_(limits.memory_limit) {}

Store::~Store() {
  for (auto& shard : shards_) {
    shard.table.clear();
  }
}

Store::Shard& Store::shardFor(std::string_view key) noexcept {
  // The table uses the hash's low bits; the shard comes from the high ones.
  return shards_[(hashKey(key) >> 58) % kShards];
}

bool Store::isDead(const Item& item, RelTime now) const noexcept {
  if (item.exptime != 0 && item.exptime <= now) {
    return true;
  }
  const RelTime oldest_live = oldest_live_.load(std::memory_order_relaxed);
  if (oldest_live == 0 || oldest_live > now) {
    return false;
  }
  const std::uint64_t oldest_cas = oldest_cas_.load(std::memory_order_relaxed);
  return item.time <= oldest_live || (oldest_cas != 0 && item.cas < oldest_cas);
}

Item* Store::findLive(Shard& shard, std::string_view key) {
  Item* found = shard.table.find(key);
  if (found == nullptr) {
    watchFetch(key, nullptr, Fetch::kNotFound);
    return nullptr;
  }
  Item& item = *found;
  const RelTime now = clock_.now();
  if (!isDead(item, now)) {
    watchFetch(key, &item, Fetch::kFound);
    return &item;
  }
  const bool expired = item.exptime != 0 && item.exptime <= now;
  watchFetch(key, &item, expired ? Fetch::kExpired : Fetch::kFlushed);
  (expired ? get_expired_ : get_flushed_).fetch_add(1, std::memory_order_relaxed);
  // As memcached's item_get: get_expired / get_flushed, not `reclaimed`
  // (that counts memory reused from the LRU tail).
  unlink(shard, item);
  return nullptr;
}

void Store::lruRemove(Shard& shard, Item& item) noexcept {
  (item.lru_prev ? item.lru_prev->lru_next : shard.lru_head) = item.lru_next;
  (item.lru_next ? item.lru_next->lru_prev : shard.lru_tail) = item.lru_prev;
  item.lru_prev = item.lru_next = nullptr;
}

void Store::lruPushFront(Shard& shard, Item& item) noexcept {
  item.lru_prev = nullptr;
  item.lru_next = shard.lru_head;
  (shard.lru_head ? shard.lru_head->lru_prev : shard.lru_tail) = &item;
  shard.lru_head = &item;
}

void Store::bump(Shard& shard, Item& item) noexcept {
  item.fetched = true;
  item.time = clock_.now();
  if (shard.lru_head != &item) {
    lruRemove(shard, item);
    lruPushFront(shard, item);
  }
}

void Store::countStore(Shard& shard) noexcept {
  shard.stores.store(shard.stores.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

void Store::adjustBytes(std::size_t before, std::size_t after) noexcept {
  // The common overwrite keeps the size: then no shared write at all, and
  // no slab class to look up.
  if (after == before) {
    return;
  }
  if (after > before) {
    bytes_.fetch_add(after - before, std::memory_order_relaxed);
  } else if (before > after) {
    bytes_.fetch_sub(before - after, std::memory_order_relaxed);
  }
  const std::size_t charged_before = charge(before);
  const std::size_t charged_after = charge(after);
  if (charged_after > charged_before) {
    charged_.fetch_add(charged_after - charged_before, std::memory_order_relaxed);
  } else if (charged_before > charged_after) {
    charged_.fetch_sub(charged_before - charged_after, std::memory_order_relaxed);
  }
}

std::size_t Store::charge(std::size_t item_size) const noexcept {
  // memcached splits items above the largest chunk into chunks of it; the
  // item's own size is close enough there.
  return item_size <= slabs_.chunkMax() ? slabs_.chunkSize(slabs_.classFor(item_size)) : item_size;
}

void Store::link(Shard& shard, ItemPtr item) {
  Item& ref = *item;
  ref.time = clock_.now();
  lruPushFront(shard, ref);
  bytes_.fetch_add(ref.totalSize(), std::memory_order_relaxed);
  charged_.fetch_add(charge(ref.totalSize()), std::memory_order_relaxed);
  curr_items_.fetch_add(1, std::memory_order_relaxed);
  countStore(shard);
  noteExpiry(shard, ref.exptime);
  shard.table.insert(std::move(item));
}

void Store::replace(Shard& shard, Item& old_item, ItemPtr item) {
  Item& ref = *item;
  const ItemPtr old = shard.table.replace(old_item, std::move(item));
  lruRemove(shard, *old);
  adjustBytes(old->totalSize(), ref.totalSize());
  ref.time = clock_.now();
  lruPushFront(shard, ref);
  countStore(shard);
  noteExpiry(shard, ref.exptime);
}

ItemPtr Store::unlink(Shard& shard, Item& item) {
  ItemPtr owned = shard.table.erase(item);
  lruRemove(shard, *owned);
  bytes_.fetch_sub(owned->totalSize(), std::memory_order_relaxed);
  charged_.fetch_sub(charge(owned->totalSize()), std::memory_order_relaxed);
  curr_items_.fetch_sub(1, std::memory_order_relaxed);
  return owned;
}

bool Store::tooLarge(std::size_t key_size, std::size_t value_size,
                     std::uint32_t flags) const noexcept {
  return key_size > kMaxKeyLength ||
         Item::totalSize(key_size, value_size, flags, limits_.use_cas) > limits_.item_size_max;
}

ItemPtr Store::newItem(std::string_view key, std::size_t value_size, std::uint32_t flags,
                       RelTime exptime) {
  ItemPtr item = makeItem(key, value_size);
  item->flags = flags;
  item->exptime = exptime;
  item->cas = nextCas();
  item->no_cas = !limits_.use_cas;
  item->slab_class = slabs_.classFor(item->totalSize());
  return item;
}

StoreResult Store::store(StoreMode mode, std::string_view key, std::string_view value,
                         std::uint32_t flags, RelTime exptime, std::uint64_t req_cas,
                         std::uint64_t* cas_out) {
  if (tooLarge(key.size(), value.size(), flags)) {
    return StoreResult::kTooLarge;
  }
  const std::size_t size = Item::totalSize(key.size(), value.size(), flags, limits_.use_cas);
  if (size > memoryLimit()) {
    return StoreResult::kNoMemory;
  }
  Shard& shard = shardFor(key);
  reclaimBeforeAlloc(shard);
  StoreResult result;
  {
    std::lock_guard lock(shard.mutex);
    reclaimTail(shard);
    const std::uint8_t size_class = slabs_.classFor(size);
    if (!limits_.evict && over(size)) {
      shard.classes.bump(size_class, ClassCounter::kOutOfMemory);
      return StoreResult::kNoMemory;
    }
    shard.classes.bump(size_class, ClassCounter::kCmdSet);
    const StoreRequest request{mode, key, value, flags, exptime, req_cas};
    Item* stored = nullptr;
    result = storeLocked(shard, request, cas_out, stored);
    watchStore(request, result, stored);
  }
  if (result == StoreResult::kStored) {
    evictIfNeeded(shard);
  }
  return result;
}

StoreResult Store::storeLocked(Shard& shard, const StoreRequest& r, std::uint64_t* cas_out,
                               Item*& stored) {
  Item* old = findLive(shard, r.key);
  const StoreResult result = admitLocked(shard, r.mode, old, r.req_cas);
  if (result != StoreResult::kStored) {
    return result;
  }
  // ms I with an older CAS: the value goes in, marked stale, keeping the
  // item's TTL and whether a recache token was already handed out.
  const bool stale = r.mode == StoreMode::kCasOrStale && old->cas != r.req_cas;  // (older, by admitLocked)
  const bool token_sent = stale && old->token_sent;
  stored = r.mode == StoreMode::kAppend || r.mode == StoreMode::kPrepend
               ? concatenate(shard, *old, r.value, r.mode == StoreMode::kAppend)
               : write(shard, old, r.key, r.value, r.flags, stale ? old->exptime : r.exptime);
  if (stored == nullptr) {
    return StoreResult::kTooLarge;
  }
  stored->stale = stale;
  stored->token_sent = token_sent;
  if (cas_out != nullptr) {
    *cas_out = stored->cas;
  }
  return result;
}

StoreResult Store::admitLocked(Shard& shard, StoreMode mode, Item* old, std::uint64_t req_cas) {
  switch (mode) {
    case StoreMode::kAdd:
      if (old != nullptr) {
        bump(shard, *old);  // memcached refreshes the existing item
        return StoreResult::kNotStored;
      }
      return StoreResult::kStored;
    case StoreMode::kReplace:
      return old == nullptr ? StoreResult::kNotStored : StoreResult::kStored;
    case StoreMode::kCas:
    case StoreMode::kCasOrStale: {
      if (old == nullptr) {
        return StoreResult::kNotFound;
      }
      // (memcached never takes CAS 0 as older: C0 with I is a plain mismatch;
      // with -C no CAS matches, not even 0.)
      const bool hit = limits_.use_cas && (old->cas == req_cas || (mode == StoreMode::kCasOrStale &&
                                                                  req_cas != 0 && req_cas < old->cas));
      shard.classes.bump(old->slab_class, hit ? ClassCounter::kCasHits : ClassCounter::kCasBadval);
      return hit ? StoreResult::kStored : StoreResult::kExists;
    }
    case StoreMode::kAppend:
    case StoreMode::kPrepend:
      if (old == nullptr) {
        return StoreResult::kNotStored;
      }
      return req_cas != 0 && old->cas != req_cas ? StoreResult::kExists : StoreResult::kStored;
    case StoreMode::kSet:
      return StoreResult::kStored;
  }
  return StoreResult::kNotStored;
}

Item* Store::write(Shard& shard, Item* old, std::string_view key, std::string_view value,
                   std::uint32_t flags, RelTime exptime) {
  if (old != nullptr && old->value_size == value.size()) {
    // Same size: overwrite in place. No allocation, no hash-map surgery (the
    // common case of a set workload); readers copy under this same lock.
    adjustBytes(old->totalSize(), Item::totalSize(key.size(), value.size(), flags, limits_.use_cas));
    old->flags = flags;
    old->exptime = exptime;
    noteExpiry(shard, exptime);
    old->cas = nextCas();
    old->fetched = false;
    old->stale = false;
    old->token_sent = false;
    old->key_binary = false;
    old->slab_class = slabs_.classFor(old->totalSize());
    if (!value.empty()) {
      std::memcpy(old->mutableValue(), value.data(), value.size());
    }
    countStore(shard);
    old->time = clock_.now();
    if (shard.lru_head != old) {
      lruRemove(shard, *old);
      lruPushFront(shard, *old);
    }
    return old;
  }
  ItemPtr item = newItem(key, value.size(), flags, exptime);
  if (!value.empty()) {
    std::memcpy(item->mutableValue(), value.data(), value.size());
  }
  Item* stored = item.get();
  if (old != nullptr) {
    replace(shard, *old, std::move(item));
  } else {
    link(shard, std::move(item));
  }
  return stored;
}

Item* Store::concatenate(Shard& shard, Item& old_item, std::string_view added, bool append) {
  const std::size_t size = old_item.value_size + added.size();
  if (tooLarge(old_item.key_size, size, old_item.flags)) {
    return nullptr;
  }
  ItemPtr item = newItem(old_item.key(), size, old_item.flags, old_item.exptime);
  const std::string_view first = append ? old_item.value() : added;
  const std::string_view second = append ? added : old_item.value();
  std::memcpy(item->mutableValue(), first.data(), first.size());
  std::memcpy(item->mutableValue() + first.size(), second.data(), second.size());
  Item* stored = item.get();
  replace(shard, old_item, std::move(item));
  return stored;
}

DeleteResult Store::remove(std::string_view key, std::uint64_t req_cas) {
  Shard& shard = shardFor(key);
  std::lock_guard lock(shard.mutex);
  Item* item = findLive(shard, key);
  if (item == nullptr) {
    return DeleteResult::kNotFound;
  }
  if (req_cas != 0 && item->cas != req_cas) {
    return DeleteResult::kExists;
  }
  shard.classes.bump(item->slab_class, ClassCounter::kDeleteHits);
  unlink(shard, *item);
  return DeleteResult::kDeleted;
}

DeltaResult Store::delta(std::string_view key, bool incr, std::uint64_t amount,
                         std::uint64_t req_cas, DeltaOutcome& out) {
  Shard& shard = shardFor(key);
  std::lock_guard lock(shard.mutex);
  Item* item = findLive(shard, key);
  if (item == nullptr) {
    return DeltaResult::kNotFound;
  }
  // memcached's order: an empty value is refused before the CAS is compared,
  // a value that is not a number after.
  if (item->value_size == 0) {
    return DeltaResult::kNonNumeric;
  }
  if (req_cas != 0 && item->cas != req_cas) {
    return DeltaResult::kExists;
  }
  std::uint64_t value = 0;
  if (!parseU64(item->value(), value)) {
    return DeltaResult::kNonNumeric;
  }
  shard.classes.bump(item->slab_class, incr ? ClassCounter::kIncrHits : ClassCounter::kDecrHits);
  value = incr ? value + amount : (amount > value ? 0 : value - amount);
  char digits[24];
  const auto length = static_cast<std::size_t>(formatU64(value, digits) - digits);
  if (length <= item->value_size) {
    // In place, padded with spaces: memcached keeps the value's length.
    std::memcpy(item->mutableValue(), digits, length);
    std::memset(item->mutableValue() + length, ' ', item->value_size - length);
    item->cas = nextCas();
    bump(shard, *item);
  } else {
    ItemPtr bigger = newItem(key, length, item->flags, item->exptime);
    std::memcpy(bigger->mutableValue(), digits, length);
    Item* fresh = bigger.get();
    replace(shard, *item, std::move(bigger));
    item = fresh;
  }
  out = DeltaOutcome{value, item->cas, item->exptime};
  return DeltaResult::kOk;
}

bool Store::touch(std::string_view key, RelTime exptime) {
  return lookup(key, LookupOptions{true, true, exptime, ClassCounter::kTouchHits}, [](Item&) {});
}

void Store::flushAll(RelTime when) {
  const RelTime now = clock_.now();
  const RelTime deadline = when != 0 ? when : now;
  oldest_live_.store(deadline - 1, std::memory_order_relaxed);
  if (deadline - 1 <= now) {
    oldest_cas_.store(nextCas(), std::memory_order_relaxed);
  }
  for (Shard& shard : shards_) {  // the flushed items are the crawler's too
    std::lock_guard lock(shard.mutex);
    if (shard.lru_head != nullptr) {
      noteExpiry(shard, std::max<RelTime>(deadline - 1, 1));
    }
  }
}

bool Store::hasRoom(std::string_view key, std::size_t value_size, std::uint32_t flags) {
  const std::size_t size = Item::totalSize(key.size(), value_size, flags, limits_.use_cas);
  if (limits_.evict || !over(size)) {
    return true;
  }
  Shard& shard = shardFor(key);
  reclaimBeforeAlloc(shard);
  std::lock_guard lock(shard.mutex);
  reclaimTail(shard);
  if (over(size)) {
    shard.classes.bump(slabs_.classFor(size), ClassCounter::kOutOfMemory);
    return false;
  }
  return true;
}

void Store::setMemoryLimit(std::size_t bytes) {
  memory_limit_.store(bytes, std::memory_order_relaxed);
  // Evict down to the new limit: one item at a time, round robin over the
  // shards, until it fits or a whole round found nothing to remove.
  for (std::size_t idle = 0; over() && idle < kShards;) {
    Shard& shard = shards_[evict_cursor_.fetch_add(1, std::memory_order_relaxed) % kShards];
    std::lock_guard lock(shard.mutex);
    idle = evictOne(shard, nullptr) ? 0 : idle + 1;
  }
}

void Store::resetStats() noexcept {
  for (Shard& shard : shards_) {
    shard.classes.reset();
    shard.stores.store(0, std::memory_order_relaxed);
  }
  for (auto& time : evicted_time_) {
    time.store(0, std::memory_order_relaxed);
  }
  get_expired_.store(0, std::memory_order_relaxed);
  get_flushed_.store(0, std::memory_order_relaxed);
}

void Store::forEachInShard(std::size_t index, const std::function<void(const Item&)>& fn) {
  Shard& shard = shards_[index % kShards];
  std::lock_guard lock(shard.mutex);
  const RelTime now = clock_.now();
  for (const Item* item = shard.lru_head; item != nullptr; item = item->lru_next) {
    if (!isDead(*item, now)) {
      fn(*item);
    }
  }
}

std::vector<Store::ClassUsage> Store::classUsage() {
  std::vector<ClassUsage> usage(slabs_.count() + 1);
  for (auto& shard : shards_) {
    std::lock_guard lock(shard.mutex);
    for (const Item* item = shard.lru_head; item != nullptr; item = item->lru_next) {
      ClassUsage& u = usage[item->slab_class];
      ++u.items;
      u.bytes += item->totalSize();
    }
    if (const Item* tail = shard.lru_tail) {
      ClassUsage& u = usage[tail->slab_class];
      u.oldest = u.oldest == 0 ? tail->time : std::min(u.oldest, tail->time);
    }
    for (std::size_t id = 1; id < usage.size(); ++id) {
      for (std::size_t c = 0; c < usage[id].counters.size(); ++c) {
        const auto counter = static_cast<ClassCounter>(c);
        usage[id].counters[c] += shard.classes.get(static_cast<std::uint8_t>(id), counter);
      }
    }
  }
  for (std::size_t id = 1; id < usage.size(); ++id) {
    usage[id].evicted_time = evicted_time_[id % ClassCounters::kClasses].load(std::memory_order_relaxed);
  }
  return usage;
}

StoreCounters Store::counters() const noexcept {
  StoreCounters c;
  c.curr_items = curr_items_.load(std::memory_order_relaxed);
  for (const Shard& shard : shards_) {
    c.total_items += shard.stores.load(std::memory_order_relaxed);
    c.evictions += shard.classes.total(ClassCounter::kEvicted);
    c.reclaimed += shard.classes.total(ClassCounter::kReclaimed);
    c.expired_unfetched += shard.classes.total(ClassCounter::kExpiredUnfetched);
    c.evicted_unfetched += shard.classes.total(ClassCounter::kEvictedUnfetched);
    c.crawler_reclaimed += shard.classes.total(ClassCounter::kCrawlerReclaimed);
    c.crawler_items_checked += shard.classes.total(ClassCounter::kCrawlerChecked);
  }
  c.bytes = bytes_.load(std::memory_order_relaxed);
  c.get_expired = get_expired_.load(std::memory_order_relaxed);
  c.get_flushed = get_flushed_.load(std::memory_order_relaxed);
  return c;
}

std::size_t Store::tableBytes() {
  std::size_t bytes = 0;
  for (Shard& shard : shards_) {
    std::lock_guard lock(shard.mutex);
    bytes += shard.table.bytes();
  }
  return bytes;
}

}  // namespace spoold
