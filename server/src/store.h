// The item store: a sharded hash table with a memory limit and LRU eviction.
#pragma once

#include <array>
#include <atomic>
#include <bitset>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>

#include "class_stats.h"
#include "clock.h"
#include "item.h"
#include "item_table.h"
#include "slab_classes.h"
#include "watch_log.h"

namespace spoold {

/// How a store treats the existing item. kCasOrStale is meta `ms` with C and
/// I: a CAS older than the item's still stores, and marks the item stale.
enum class StoreMode : std::uint8_t { kSet, kAdd, kReplace, kAppend, kPrepend, kCas, kCasOrStale };
enum class StoreResult : std::uint8_t { kStored, kNotStored, kExists, kNotFound, kTooLarge, kNoMemory };
enum class DeleteResult : std::uint8_t { kDeleted, kNotFound, kExists };
enum class DeltaResult : std::uint8_t { kOk, kNonNumeric, kNotFound, kExists };

struct StoreLimits {
  std::size_t memory_limit = 64u << 20;    ///< -m, bytes
  std::size_t item_size_max = 1u << 20;    ///< -I, bytes (item header, key and value)
  bool evict = true;                       ///< false with -M: refuse a store instead of evicting
  bool use_cas = true;                     ///< -C turns it off: every CAS value is 0
  double growth_factor = 1.25;             ///< -f: slab class growth, for class accounting
  std::size_t chunk_size = 48;             ///< -n: key+value+flags space of the smallest class
};

/// Counters of the store, memcached's names in the comments.
struct StoreCounters {
  std::uint64_t curr_items = 0;        ///< curr_items
  std::uint64_t total_items = 0;       ///< total_items
  std::uint64_t bytes = 0;             ///< bytes
  std::uint64_t evictions = 0;         ///< evictions
  std::uint64_t reclaimed = 0;         ///< reclaimed (expired or flushed items removed)
  std::uint64_t expired_unfetched = 0; ///< expired_unfetched
  std::uint64_t evicted_unfetched = 0; ///< evicted_unfetched
  std::uint64_t get_expired = 0;       ///< get_expired
  std::uint64_t get_flushed = 0;       ///< get_flushed
  std::uint64_t crawler_reclaimed = 0;      ///< crawler_reclaimed
  std::uint64_t crawler_items_checked = 0;  ///< crawler_items_checked
};

/// Slab classes, one bit each (bit 0 unused), for a crawl of some of them.
using ClassMask = std::bitset<ClassCounters::kClasses>;

/// What one crawl of a shard did.
struct CrawlTally {
  std::uint64_t checked = 0;
  std::uint64_t reclaimed = 0;
};

/// What a delta (incr/decr) produced.
struct DeltaOutcome {
  std::uint64_t value = 0;
  std::uint64_t cas = 0;
  RelTime exptime = 0;
};

/// Options of a lookup.
struct LookupOptions {
  bool bump = true;          ///< update the access time and the fetched flag afterwards
  bool touch = false;        ///< set the expiration time to `exptime`
  RelTime exptime = 0;
  /// The per-class counter a hit bumps (get_hits, touch_hits); kCount: none.
  ClassCounter hit = ClassCounter::kGetHits;
};

/// The cache. Thread-safe: every method may be called from any thread.
///
/// Keys hash to one of kShards shards, each a mutex, an ItemTable and an LRU
/// list. Memory is accounted globally (memcached's item sizes); when a store
/// pushes the total over the limit, least recently used items are evicted,
/// starting with the storing shard's own LRU tail (with -M, the store is
/// refused instead). Expired and flushed items are removed when a lookup
/// finds them; before a store allocates, from the LRU tails of the shards
/// that may hold dead items (memcached's allocator reclaims them first, so
/// expired items' memory is reused before the cache grows); and by
/// crawlShard(), which StoreMaintainer runs in the background.
class Store {
 public:
  Store(const StoreLimits& limits, const Clock& clock);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  /// Looks `key` up; on a hit runs `fn(Item&)` under the shard's lock (it may
  /// read the item and change its expiration time), then bumps the item.
  /// @return true on a hit.
  template <typename Fn>
  bool lookup(std::string_view key, const LookupOptions& options, Fn&& fn) {
    Shard& shard = shardFor(key);
    std::lock_guard lock(shard.mutex);
    Item* item = findLive(shard, key);
    if (item == nullptr) {
      return false;
    }
    if (options.touch) {
      item->exptime = options.exptime;
    }
    if (options.hit != ClassCounter::kCount) {
      shard.classes.bump(item->slab_class, options.hit);
    }
    fn(*item);
    noteExpiry(shard, item->exptime);  // touch, gat, meta T may have set it
    if (options.bump) {
      bump(shard, *item);
    }
    return true;
  }

  /// lookup(), but a miss creates an empty item expiring at `exptime` first
  /// (meta `N`, "vivify"); `fn(Item&, bool created)`. A created item is
  /// bumped too (with options.bump), as memcached's mg bumps what it vivified.
  template <typename Fn>
  bool lookupOrCreate(std::string_view key, const LookupOptions& options, RelTime exptime, Fn&& fn) {
    Shard& shard = shardFor(key);
    bool created = false;
    {
      std::lock_guard lock(shard.mutex);
      Item* item = findLive(shard, key);
      if (item == nullptr) {
        if (tooLarge(key.size(), 0, 0)) {
          return false;
        }
        ItemPtr fresh = newItem(key, 0, 0, exptime);
        item = fresh.get();
        link(shard, std::move(fresh));
        created = true;
      } else if (options.touch) {
        item->exptime = options.exptime;
      }
      fn(*item, created);
      noteExpiry(shard, item->exptime);
      if (options.bump) {
        bump(shard, *item);
      }
    }
    if (created) {
      evictIfNeeded(shard);
    }
    return true;
  }

  /// Stores `value` under `key` following `mode`; `req_cas` is the CAS the
  /// client sent (kCas; for kAppend/kPrepend a non-zero value must match).
  /// On kStored, `*cas_out` receives the item's new CAS.
  StoreResult store(StoreMode mode, std::string_view key, std::string_view value,
                    std::uint32_t flags, RelTime exptime, std::uint64_t req_cas,
                    std::uint64_t* cas_out = nullptr);
  /// Deletes `key`; a non-zero `req_cas` must match.
  DeleteResult remove(std::string_view key, std::uint64_t req_cas = 0);
  /// incr/decr: the value must be a decimal number; incr wraps at 2^64, decr
  /// stops at 0. A shorter result is padded with spaces, as memcached does.
  DeltaResult delta(std::string_view key, bool incr, std::uint64_t amount, std::uint64_t req_cas,
                    DeltaOutcome& out);
  /// Sets the expiration time of `key`. @return false when missing.
  bool touch(std::string_view key, RelTime exptime);
  /// flush_all: items last touched before `when` (now when 0) become invalid at `when`.
  void flushAll(RelTime when);

  /// With -M: whether an item of this shape fits under the memory limit,
  /// after reclaiming dead items at the tail of its shard's LRU (memcached
  /// allocates before reading the value; a refusal counts `outofmemory`).
  /// Always true when the store evicts.
  [[nodiscard]] bool hasRoom(std::string_view key, std::size_t value_size, std::uint32_t flags);
  /// cache_memlimit: the new limit applies at once; a smaller one evicts down to it.
  void setMemoryLimit(std::size_t bytes);
  [[nodiscard]] std::size_t memoryLimit() const noexcept {
    return memory_limit_.load(std::memory_order_relaxed);
  }
  /// `stats reset`: zeroes the counters (not curr_items or bytes).
  void resetStats() noexcept;

  /// Would an item of this shape be refused as too large?
  [[nodiscard]] bool tooLarge(std::size_t key_size, std::size_t value_size,
                              std::uint32_t flags) const noexcept;
  /// A new CAS value.
  /// A new CAS value; always 0 with -C, as memcached (whose flush then
  /// relies on item times alone, as it does too).
  std::uint64_t nextCas() noexcept {
    return limits_.use_cas ? cas_counter_.fetch_add(1, std::memory_order_relaxed) + 1 : 0;
  }

  /// Where `watch` lines go (fetchers, mutations, evictions); null: nowhere.
  /// Set before the store is shared.
  void setWatchLog(WatchLog* log) noexcept { watch_ = log; }

  /// Visits the live items of shard `index` under its lock (for metadump).
  void forEachInShard(std::size_t index, const std::function<void(const Item&)>& fn);
  /// memcached's LRU crawler on shard `index`, under its lock: reclaims the
  /// dead items of `classes`, counting crawler_reclaimed and
  /// crawler_items_checked per class, and recomputes the shard's dead hint.
  CrawlTally crawlShard(std::size_t index, const ClassMask& classes);
  /// Whether shard `index` may hold an item that is dead by now (its hint,
  /// without the lock): what the maintainer crawls.
  [[nodiscard]] bool mayHoldDead(std::size_t index) const noexcept;
  static constexpr std::size_t kShards = 64;

  [[nodiscard]] StoreCounters counters() const noexcept;
  /// The bytes of all shards' hash tables (`stats` hash_bytes); takes each
  /// shard's lock in turn.
  [[nodiscard]] std::size_t tableBytes();
  [[nodiscard]] const StoreLimits& limits() const noexcept { return limits_; }
  [[nodiscard]] const SlabClasses& slabClasses() const noexcept { return slabs_; }
  [[nodiscard]] const Clock& clock() const noexcept { return clock_; }
  /// Items per slab class, their total size and counters, for `stats items|slabs`.
  struct ClassUsage {
    std::uint64_t items = 0;
    std::uint64_t bytes = 0;
    RelTime oldest = 0;        ///< access time of the least recently used item
    RelTime evicted_time = 0;  ///< seconds since the last evicted item's last access, at eviction
    std::array<std::uint64_t, static_cast<std::size_t>(ClassCounter::kCount)> counters{};
    [[nodiscard]] std::uint64_t get(ClassCounter c) const noexcept {
      return counters[static_cast<std::size_t>(c)];
    }
  };
  [[nodiscard]] std::vector<ClassUsage> classUsage();

 private:
  struct alignas(64) Shard {
    std::mutex mutex;
    ItemTable table;
    Item* lru_head = nullptr;  // most recently used
    Item* lru_tail = nullptr;  // next to evict
    // The earliest time an item of this shard may be dead (the smallest
    // expiration time, or a flush's deadline); 0: none. A lower bound,
    // lowered by noteExpiry() and made exact by a full walk, both under
    // `mutex`; atomic so that allocations may look without the lock
    // (beside the mutex: a store touches no other cache line for it).
    std::atomic<RelTime> dead_hint{0};
    // Stores into this shard (`total_items`). Written under `mutex` only, so
    // a plain load and store; atomic so that stats may read it unlocked. A
    // global counter here was a cache line both loops fought over per set.
    std::atomic<std::uint64_t> stores{0};
    ClassCounters classes;  // same rule as `stores`
  };

  [[nodiscard]] Shard& shardFor(std::string_view key) noexcept;
  Item* findLive(Shard& shard, std::string_view key);
  [[nodiscard]] bool isDead(const Item& item, RelTime now) const noexcept;
  void bump(Shard& shard, Item& item) noexcept;
  void link(Shard& shard, ItemPtr item);
  /// One more store into `shard` (its lock held).
  static void countStore(Shard& shard) noexcept;
  /// The item bytes went from `before` to `after`.
  void adjustBytes(std::size_t before, std::size_t after) noexcept;
  void replace(Shard& shard, Item& old_item, ItemPtr item);
  ItemPtr unlink(Shard& shard, Item& item);
  static void lruRemove(Shard& shard, Item& item) noexcept;
  static void lruPushFront(Shard& shard, Item& item) noexcept;
  [[nodiscard]] ItemPtr newItem(std::string_view key, std::size_t value_size, std::uint32_t flags,
                                RelTime exptime);
  struct StoreRequest {
    StoreMode mode;
    std::string_view key;
    std::string_view value;
    std::uint32_t flags;
    RelTime exptime;
    std::uint64_t req_cas;
  };
  /// store() with the shard's lock held and room made; `stored`: the item written.
  StoreResult storeLocked(Shard& shard, const StoreRequest& request, std::uint64_t* cas_out,
                          Item*& stored);
  /// Whether `mode` may store over `old` (null: missing): kStored or the refusal.
  StoreResult admitLocked(Shard& shard, StoreMode mode, Item* old, std::uint64_t req_cas);
  /// Stores the value over `old` (in place when the size matches) or anew.
  Item* write(Shard& shard, Item* old, std::string_view key, std::string_view value,
              std::uint32_t flags, RelTime exptime);
  /// append/prepend. @return null when the result would be too large.
  Item* concatenate(Shard& shard, Item& old_item, std::string_view added, bool append);
  void evictIfNeeded(Shard& own);
  bool evictOne(Shard& shard, const Item* keep);
  /// Removes an expired or flushed item, counting it as reclaimed.
  void reclaim(Shard& shard, Item& item);
  /// Reclaims the dead items among the last five of the shard's LRU.
  void reclaimTail(Shard& shard);
  /// Before an allocation: reclaims dead items at the LRU tails of the
  /// shards whose hints say they may hold some (a few shards at most), so
  /// that their memory is reused before the cache grows.
  void reclaimBeforeAlloc(const Shard& own);
  /// A dead item may appear in `shard` at `exptime` (0: never); its lock held.
  void noteExpiry(Shard& shard, RelTime exptime) noexcept;
  /// Walks the whole shard for its exact dead hint (its lock held).
  void recomputeHint(Shard& shard, RelTime now) const noexcept;
  [[nodiscard]] static bool hintDue(RelTime hint, RelTime now) noexcept {
    return hint != 0 && hint <= now;
  }
  // `watch` lines (store_watch.cpp), each behind one relaxed load.
  enum class Fetch : std::uint8_t { kFound, kNotFound, kExpired, kFlushed };
  void watchFetch(std::string_view key, const Item* item, Fetch status) const;
  /// `stored`: the item written (for append/prepend the whole value), or null.
  void watchStore(const StoreRequest& request, StoreResult result, const Item* stored) const;
  void watchEviction(const Item& item, RelTime now) const;
  /// Would an item of `size` more bytes exceed the limit? Items are charged
  /// the chunk memcached's slab allocator would give them, not their own
  /// size: `-m` then holds as many items as memcached's, and the memory a
  /// malloc'd item really takes (allocator rounding, the hash table's slot)
  /// stays within the budget operators size containers by.
  [[nodiscard]] bool over(std::size_t size = 0) const noexcept {
    return charged_.load(std::memory_order_relaxed) + (size == 0 ? 0 : charge(size)) > memoryLimit();
  }
  /// The memory `-m` charges for an item of `item_size` bytes.
  [[nodiscard]] std::size_t charge(std::size_t item_size) const noexcept;

  const StoreLimits limits_;
  const Clock& clock_;
  WatchLog* watch_ = nullptr;
  const SlabClasses slabs_;
  std::array<Shard, kShards> shards_;
  std::atomic<std::uint64_t> cas_counter_{0};
  std::atomic<std::size_t> bytes_{0};    // memcached's item sizes: the `bytes` stat
  std::atomic<std::size_t> charged_{0};  // their slab chunks: what -m limits
  std::atomic<RelTime> oldest_live_{0};
  // At most the smallest shard dead_hint, so that allocations skip the
  // shards with one load; 0: none. (An allocation that raises it may miss a
  // shard's hint lowered meanwhile; the maintainer reads the shards' own.)
  std::atomic<RelTime> dead_hint_{0};
  std::atomic<std::uint64_t> oldest_cas_{0};
  std::atomic<std::size_t> evict_cursor_{0};

  std::atomic<std::size_t> memory_limit_;
  std::array<std::atomic<RelTime>, ClassCounters::kClasses> evicted_time_{};
  std::atomic<std::uint64_t> curr_items_{0};
  std::atomic<std::uint64_t> get_expired_{0};
  std::atomic<std::uint64_t> get_flushed_{0};
};

}  // namespace spoold
