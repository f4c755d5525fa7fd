// Per slab class counters of the store, for `stats items` and `stats slabs`.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

namespace spoold {

/// What the store counts per slab class (memcached's itemstats and the
/// per-class part of its slab_stats), memcached's names in the comments.
enum class ClassCounter : std::uint8_t {
  kEvicted,           ///< items:N:evicted
  kEvictedNonzero,    ///< items:N:evicted_nonzero (evicted items that had an expiry)
  kOutOfMemory,       ///< items:N:outofmemory (-M refused a store)
  kReclaimed,         ///< items:N:reclaimed (expired or flushed items removed)
  kExpiredUnfetched,  ///< items:N:expired_unfetched
  kEvictedUnfetched,  ///< items:N:evicted_unfetched
  kGetHits,           ///< N:get_hits
  kCmdSet,            ///< N:cmd_set
  kDeleteHits,        ///< N:delete_hits
  kIncrHits,          ///< N:incr_hits
  kDecrHits,          ///< N:decr_hits
  kCasHits,           ///< N:cas_hits
  kCasBadval,         ///< N:cas_badval
  kTouchHits,         ///< N:touch_hits
  kCrawlerReclaimed,  ///< items:N:crawler_reclaimed (dead items the crawler removed)
  kCrawlerChecked,    ///< items:N:crawler_items_checked
  kCount,
};

/// The counters of every class, owned by one store shard. Written only
/// under that shard's lock (a plain load and store, no atomic read-modify-
/// write); atomic so that stats may sum the shards without their locks.
class ClassCounters {
 public:
  /// Slab class ids are 1..63, as memcached's.
  static constexpr std::size_t kClasses = 64;

  /// One more `counter` for class `id` (the owning shard's lock held).
  void bump(std::uint8_t id, ClassCounter counter) noexcept {
    auto& value = values_[id % kClasses][static_cast<std::size_t>(counter)];
    value.store(value.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
  [[nodiscard]] std::uint64_t get(std::uint8_t id, ClassCounter counter) const noexcept {
    return values_[id % kClasses][static_cast<std::size_t>(counter)].load(
        std::memory_order_relaxed);
  }
  /// The sum over all classes.
  [[nodiscard]] std::uint64_t total(ClassCounter counter) const noexcept {
    std::uint64_t sum = 0;
    for (std::size_t id = 0; id < kClasses; ++id) {
      sum += get(static_cast<std::uint8_t>(id), counter);
    }
    return sum;
  }
  /// `stats reset`.
  void reset() noexcept {
    for (auto& row : values_) {
      for (auto& value : row) {
        value.store(0, std::memory_order_relaxed);
      }
    }
  }

 private:
  std::array<std::array<std::atomic<std::uint64_t>, static_cast<std::size_t>(ClassCounter::kCount)>,
             kClasses>
      values_{};
};

}  // namespace spoold
