#include "class_stats_report.h"

#include <fmt/format.h>

#include <algorithm>
#include <string>

namespace spoold {
namespace {

using Usage = Store::ClassUsage;

/// Emits "<prefix><id>:<name> <value>".
class ClassEmitter {
 public:
  ClassEmitter(const StatSink& sink, std::string_view prefix) : sink_(sink), prefix_(prefix) {}
  void setClass(std::size_t id) { id_ = id; }
  void operator()(std::string_view name, std::uint64_t value) {
    sink_(fmt::format("{}{}:{}", prefix_, id_, name), fmt::format("{}", value));
  }

 private:
  const StatSink& sink_;
  std::string_view prefix_;
  std::size_t id_ = 0;
};

void emitItemClass(ClassEmitter& emit, const Usage& u, RelTime now) {
  const std::uint64_t age = u.oldest == 0 ? 0 : now - u.oldest;
  emit("number", u.items);
  emit("number_hot", 0);
  emit("number_warm", 0);
  emit("number_cold", u.items);
  emit("age_hot", 0);
  emit("age_warm", 0);
  emit("age", age);
  emit("mem_requested", u.bytes);
  emit("evicted", u.get(ClassCounter::kEvicted));
  emit("evicted_nonzero", u.get(ClassCounter::kEvictedNonzero));
  emit("evicted_time", u.evicted_time);
  emit("outofmemory", u.get(ClassCounter::kOutOfMemory));
  emit("tailrepairs", 0);
  emit("reclaimed", u.get(ClassCounter::kReclaimed));
  emit("expired_unfetched", u.get(ClassCounter::kExpiredUnfetched));
  emit("evicted_unfetched", u.get(ClassCounter::kEvictedUnfetched));
  emit("evicted_active", 0);
  emit("crawler_reclaimed", u.get(ClassCounter::kCrawlerReclaimed));
  emit("crawler_items_checked", u.get(ClassCounter::kCrawlerChecked));
  emit("lrutail_reflocked", 0);
}

void emitItemClassMoves(ClassEmitter& emit, const Usage& u) {
  emit("moves_to_cold", 0);
  emit("moves_to_warm", 0);
  emit("moves_within_lru", 0);
  // Every eviction is done by the thread that stores, as memcached's
  // worker threads do when they must reclaim directly.
  emit("direct_reclaims", u.get(ClassCounter::kEvicted));
  emit("hits_to_hot", 0);
  emit("hits_to_warm", 0);
  emit("hits_to_cold", u.get(ClassCounter::kGetHits) + u.get(ClassCounter::kTouchHits));
  emit("hits_to_temp", 0);
}

bool listedInSlabs(const Usage& u) {
  return u.items != 0 ||
         std::any_of(u.counters.begin(), u.counters.end(), [](std::uint64_t c) { return c != 0; });
}

void emitSlabClass(ClassEmitter& emit, const Usage& u, std::size_t chunk, std::size_t page) {
  const std::uint64_t per_page = std::max<std::size_t>(page / chunk, 1);
  const std::uint64_t pages = std::max<std::uint64_t>((u.items + per_page - 1) / per_page, 1);
  emit("chunk_size", chunk);
  emit("chunks_per_page", per_page);
  emit("total_pages", pages);
  emit("total_chunks", pages * per_page);
  emit("used_chunks", u.items);
  emit("free_chunks", pages * per_page - u.items);
  emit("free_chunks_end", 0);
  emit("get_hits", u.get(ClassCounter::kGetHits));
  emit("cmd_set", u.get(ClassCounter::kCmdSet));
  emit("delete_hits", u.get(ClassCounter::kDeleteHits));
  emit("incr_hits", u.get(ClassCounter::kIncrHits));
  emit("decr_hits", u.get(ClassCounter::kDecrHits));
  emit("cas_hits", u.get(ClassCounter::kCasHits));
  emit("cas_badval", u.get(ClassCounter::kCasBadval));
  emit("touch_hits", u.get(ClassCounter::kTouchHits));
}

}  // namespace

void reportItemStats(ServerContext& ctx, const StatSink& sink) {
  const auto usage = ctx.store.classUsage();
  const RelTime now = ctx.clock.now();
  ClassEmitter emit(sink, "items:");
  for (std::size_t id = 1; id < usage.size(); ++id) {
    if (usage[id].items == 0) {
      continue;
    }
    emit.setClass(id);
    emitItemClass(emit, usage[id], now);
    emitItemClassMoves(emit, usage[id]);
  }
}

void reportSlabStats(ServerContext& ctx, const StatSink& sink) {
  const auto usage = ctx.store.classUsage();
  const SlabClasses& classes = ctx.store.slabClasses();
  ClassEmitter emit(sink, "");
  unsigned active = 0;
  std::uint64_t bytes = 0;
  for (std::size_t id = 1; id < usage.size(); ++id) {
    bytes += usage[id].bytes;
    if (!listedInSlabs(usage[id])) {
      continue;
    }
    ++active;
    emit.setClass(id);
    emitSlabClass(emit, usage[id], classes.chunkSize(static_cast<std::uint8_t>(id)),
                  ctx.settings.item_size_max);
  }
  sink("active_slabs", fmt::format("{}", active));
  sink("total_malloced", fmt::format("{}", bytes));
}

}  // namespace spoold
