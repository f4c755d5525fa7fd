#include "store.h"

#include <cstring>
#include <new>

#include "numbers.h"

namespace spoold {

void ItemDeleter::operator()(Item* item) const noexcept {
  item->~Item();
  ::operator delete(item);
}

ItemPtr makeItem(std::string_view key, std::size_t value_size) {
  void* raw = ::operator new(sizeof(Item) + key.size() + value_size);
  ItemPtr item(new (raw) Item());
  item->key_size = static_cast<std::uint32_t>(key.size());
  item->value_size = static_cast<std::uint32_t>(value_size);
  std::memcpy(reinterpret_cast<char*>(item.get() + 1), key.data(), key.size());
  return item;
}

Store::Store(const StoreLimits& limits, const Clock& clock)
    : limits_(limits), clock_(clock), slabs_(limits.item_size_max) {}

Store::~Store() {
  for (auto& shard : shards_) {
    shard.map.clear();
  }
}

Store::Shard& Store::shardFor(std::string_view key) noexcept {
  // FNV-1a: cheap, and independent of the maps' own hash.
  std::uint32_t hash = 2166136261u;
  for (const char c : key) {
    hash = (hash ^ static_cast<unsigned char>(c)) * 16777619u;
  }
  return shards_[hash % kShards];
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
  const auto it = shard.map.find(key);
  if (it == shard.map.end()) {
    return nullptr;
  }
  Item& item = *it->second;
  const RelTime now = clock_.now();
  if (!isDead(item, now)) {
    return &item;
  }
  const bool expired = item.exptime != 0 && item.exptime <= now;
  (expired ? get_expired_ : get_flushed_).fetch_add(1, std::memory_order_relaxed);
  reclaimed_.fetch_add(1, std::memory_order_relaxed);
  if (expired && !item.fetched) {
    expired_unfetched_.fetch_add(1, std::memory_order_relaxed);
  }
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

void Store::link(Shard& shard, ItemPtr item) {
  Item& ref = *item;
  ref.time = clock_.now();
  lruPushFront(shard, ref);
  bytes_.fetch_add(ref.totalSize(), std::memory_order_relaxed);
  curr_items_.fetch_add(1, std::memory_order_relaxed);
  total_items_.fetch_add(1, std::memory_order_relaxed);
  shard.map.emplace(ref.key(), std::move(item));
}

void Store::replace(Shard& shard, Item& old_item, ItemPtr item) {
  // The map's key views point into the item: swap the node, not just the value.
  auto node = shard.map.extract(old_item.key());
  ItemPtr old = std::move(node.mapped());
  lruRemove(shard, *old);
  bytes_.fetch_sub(old->totalSize(), std::memory_order_relaxed);
  Item& ref = *item;
  ref.time = clock_.now();
  lruPushFront(shard, ref);
  bytes_.fetch_add(ref.totalSize(), std::memory_order_relaxed);
  total_items_.fetch_add(1, std::memory_order_relaxed);
  node.key() = ref.key();
  node.mapped() = std::move(item);
  shard.map.insert(std::move(node));
}

ItemPtr Store::unlink(Shard& shard, Item& item) {
  auto node = shard.map.extract(item.key());
  ItemPtr owned = std::move(node.mapped());
  lruRemove(shard, *owned);
  bytes_.fetch_sub(owned->totalSize(), std::memory_order_relaxed);
  curr_items_.fetch_sub(1, std::memory_order_relaxed);
  return owned;
}

bool Store::tooLarge(std::size_t key_size, std::size_t value_size,
                     std::uint32_t flags) const noexcept {
  return Item::totalSize(key_size, value_size, flags) > limits_.item_size_max;
}

ItemPtr Store::newItem(std::string_view key, std::size_t value_size, std::uint32_t flags,
                       RelTime exptime) {
  ItemPtr item = makeItem(key, value_size);
  item->flags = flags;
  item->exptime = exptime;
  item->cas = nextCas();
  item->slab_class = slabs_.classFor(item->totalSize());
  return item;
}

StoreResult Store::store(StoreMode mode, std::string_view key, std::string_view value,
                         std::uint32_t flags, RelTime exptime, std::uint64_t req_cas,
                         std::uint64_t* cas_out) {
  if (tooLarge(key.size(), value.size(), flags)) {
    return StoreResult::kTooLarge;
  }
  if (Item::totalSize(key.size(), value.size(), flags) > limits_.memory_limit) {
    return StoreResult::kNoMemory;
  }
  ItemPtr item = newItem(key, value.size(), flags, exptime);
  if (!value.empty()) {
    std::memcpy(item->mutableValue(), value.data(), value.size());
  }
  Shard& shard = shardFor(key);
  StoreResult result;
  {
    std::lock_guard lock(shard.mutex);
    const Item* stored = item.get();
    result = storeLocked(shard, mode, std::move(item), req_cas);
    if (result == StoreResult::kStored && cas_out != nullptr) {
      // `stored` may have been replaced by a concatenation: look it up again.
      const auto it = shard.map.find(key);
      *cas_out = it != shard.map.end() ? it->second->cas : stored->cas;
    }
  }
  if (result == StoreResult::kStored) {
    evictIfNeeded(shard);
  }
  return result;
}

StoreResult Store::storeLocked(Shard& shard, StoreMode mode, ItemPtr item, std::uint64_t req_cas) {
  Item* old = findLive(shard, item->key());
  switch (mode) {
    case StoreMode::kAdd:
      if (old != nullptr) {
        bump(shard, *old);  // memcached refreshes the existing item
        return StoreResult::kNotStored;
      }
      break;
    case StoreMode::kReplace:
      if (old == nullptr) {
        return StoreResult::kNotStored;
      }
      break;
    case StoreMode::kCas:
      if (old == nullptr) {
        return StoreResult::kNotFound;
      }
      if (old->cas != req_cas) {
        return StoreResult::kExists;
      }
      break;
    case StoreMode::kAppend:
    case StoreMode::kPrepend:
      if (old == nullptr) {
        return StoreResult::kNotStored;
      }
      if (req_cas != 0 && old->cas != req_cas) {
        return StoreResult::kExists;
      }
      item = concatenate(*old, *item, mode == StoreMode::kAppend);
      if (!item) {
        return StoreResult::kTooLarge;
      }
      break;
    case StoreMode::kSet:
      break;
  }
  if (old != nullptr) {
    replace(shard, *old, std::move(item));
  } else {
    link(shard, std::move(item));
  }
  return StoreResult::kStored;
}

ItemPtr Store::concatenate(const Item& old_item, const Item& added, bool append) {
  const std::size_t size = old_item.value_size + added.value_size;
  if (tooLarge(old_item.key_size, size, old_item.flags)) {
    return nullptr;
  }
  ItemPtr item = newItem(old_item.key(), size, old_item.flags, old_item.exptime);
  const std::string_view first = append ? old_item.value() : added.value();
  const std::string_view second = append ? added.value() : old_item.value();
  std::memcpy(item->mutableValue(), first.data(), first.size());
  std::memcpy(item->mutableValue() + first.size(), second.data(), second.size());
  return item;
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
  if (req_cas != 0 && item->cas != req_cas) {
    return DeltaResult::kExists;
  }
  std::uint64_t value = 0;
  if (item->value_size == 0 || !parseU64(item->value(), value)) {
    return DeltaResult::kNonNumeric;
  }
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
  return lookup(key, LookupOptions{true, true, exptime}, [](Item&) {});
}

void Store::flushAll(RelTime when) {
  const RelTime now = clock_.now();
  const RelTime deadline = when != 0 ? when : now;
  oldest_live_.store(deadline - 1, std::memory_order_relaxed);
  if (deadline - 1 <= now) {
    oldest_cas_.store(nextCas(), std::memory_order_relaxed);
  }
}

void Store::evictIfNeeded(Shard& own) {
  // Bounded: at most a few passes over the shards, one item at a time.
  std::size_t budget = kShards * 4;
  if (bytes_.load(std::memory_order_relaxed) <= limits_.memory_limit) {
    return;
  }
  {
    std::lock_guard lock(own.mutex);
    while (bytes_.load(std::memory_order_relaxed) > limits_.memory_limit && budget > 0 &&
           evictOne(own, own.lru_head)) {
      --budget;
    }
  }
  while (bytes_.load(std::memory_order_relaxed) > limits_.memory_limit && budget-- > 0) {
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
    reclaimed_.fetch_add(1, std::memory_order_relaxed);
  } else {
    evictions_.fetch_add(1, std::memory_order_relaxed);
    if (!victim->fetched) {
      evicted_unfetched_.fetch_add(1, std::memory_order_relaxed);
    }
  }
  unlink(shard, *victim);
  return true;
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
  }
  return usage;
}

StoreCounters Store::counters() const noexcept {
  StoreCounters c;
  c.curr_items = curr_items_.load(std::memory_order_relaxed);
  c.total_items = total_items_.load(std::memory_order_relaxed);
  c.bytes = bytes_.load(std::memory_order_relaxed);
  c.evictions = evictions_.load(std::memory_order_relaxed);
  c.reclaimed = reclaimed_.load(std::memory_order_relaxed);
  c.expired_unfetched = expired_unfetched_.load(std::memory_order_relaxed);
  c.evicted_unfetched = evicted_unfetched_.load(std::memory_order_relaxed);
  c.get_expired = get_expired_.load(std::memory_order_relaxed);
  c.get_flushed = get_flushed_.load(std::memory_order_relaxed);
  return c;
}

}  // namespace spoold
