// The Store's `watch` lines, in memcached 1.6.18's formats.
#include <fmt/format.h>

#include "store.h"

namespace spoold {
namespace {

std::string_view fetchStatus(int status) {
  constexpr std::string_view kNames[] = {"found", "not_found", "expired", "flushed"};
  return kNames[status];
}

std::string_view storeStatus(StoreResult result) {
  switch (result) {
    case StoreResult::kStored: return "stored";
    case StoreResult::kExists: return "exists";
    case StoreResult::kNotFound: return "not_found";
    case StoreResult::kTooLarge: return "too_large";
    case StoreResult::kNoMemory: return "no_memory";
    case StoreResult::kNotStored: break;
  }
  return "not_stored";
}

std::string_view storeCommand(StoreMode mode) {
  switch (mode) {
    case StoreMode::kAdd: return "add";
    case StoreMode::kReplace: return "replace";
    case StoreMode::kAppend: return "append";
    case StoreMode::kPrepend: return "prepend";
    case StoreMode::kCas:
    case StoreMode::kCasOrStale: return "cas";
    case StoreMode::kSet: break;
  }
  return "set";
}

}  // namespace

void Store::watchFetch(std::string_view key, const Item* item, Fetch status) const {
  if (watch_ == nullptr || !watch_->wants(kWatchFetchers)) {
    return;
  }
  // memcached names no class or size for a miss, an expired or a flushed item.
  const bool found = status == Fetch::kFound;
  watch_->publish(
      kWatchFetchers,
      fmt::format("type=item_get key={} status={} clsid={} cfd={} size={}", uriEncode(key),
                  fetchStatus(static_cast<int>(status)), found ? item->slab_class : 0,
                  WatchLog::currentClient(), found ? item->value_size : 0));
}

void Store::watchStore(const StoreRequest& r, StoreResult result, const Item* stored) const {
  if (watch_ == nullptr || !watch_->wants(kWatchMutations)) {
    return;
  }
  // memcached describes the item it wrote (an append's whole value, with the
  // old item's expiry), or the one it would have.
  const RelTime exptime = stored != nullptr ? stored->exptime : r.exptime;
  const std::size_t size = stored != nullptr ? stored->value_size : r.value.size();
  const unsigned clsid = stored != nullptr
                             ? stored->slab_class
                             : slabs_.classFor(Item::totalSize(r.key.size(), r.value.size(),
                                                               r.flags, limits_.use_cas));
  // The seconds left, as an unsigned 32-bit difference (0: none).
  const RelTime ttl = exptime == 0 ? 0 : exptime - clock_.now();
  watch_->publish(
      kWatchMutations,
      fmt::format("type=item_store key={} status={} cmd={} ttl={} clsid={} cfd={} size={}",
                  uriEncode(r.key), storeStatus(result), storeCommand(r.mode), ttl, clsid,
                  WatchLog::currentClient(), size));
}

void Store::watchEviction(const Item& item, RelTime now) const {
  if (watch_ == nullptr || !watch_->wants(kWatchEvictions)) {
    return;
  }
  const long long ttl = item.exptime == 0 ? -1 : static_cast<long long>(item.exptime) - now;
  watch_->publish(kWatchEvictions,
                  fmt::format("type=eviction key={} fetch={} ttl={} la={} clsid={} size={}",
                              uriEncode(item.key()), item.fetched ? "yes" : "no", ttl,
                              now - item.time, item.slab_class, item.value_size));
}

}  // namespace spoold
