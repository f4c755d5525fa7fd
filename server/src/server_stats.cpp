#include "server_stats.h"

namespace spoold {

std::string_view counterName(Counter counter) noexcept {
  static constexpr std::array<std::string_view, static_cast<std::size_t>(Counter::kCount)> kNames{
      "cmd_get",      "cmd_set",      "cmd_flush",   "cmd_touch",   "cmd_meta",
      "get_hits",     "get_misses",   "delete_misses", "delete_hits", "incr_misses",
      "incr_hits",    "decr_misses",  "decr_hits",   "cas_misses",  "cas_hits",
      "cas_badval",   "touch_hits",   "touch_misses", "store_too_large", "store_no_memory",
      "auth_cmds",    "auth_errors",  "idle_kicks",   "conn_yields",
  };
  return kNames[static_cast<std::size_t>(counter)];
}

std::size_t ServerStats::slotIndex() noexcept {
  static std::atomic<std::size_t> next{0};
  thread_local const std::size_t index = next.fetch_add(1, std::memory_order_relaxed) % kSlots;
  return index;
}

std::uint64_t ServerStats::get(Counter counter) const noexcept {
  std::uint64_t sum = 0;
  for (const auto& slot : slots_) {
    sum += slot.values[static_cast<std::size_t>(counter)].load(std::memory_order_relaxed);
  }
  return sum;
}

void ServerStats::reset() noexcept {
  for (auto& slot : slots_) {
    for (auto& value : slot.values) {
      value.store(0, std::memory_order_relaxed);
    }
  }
}

}  // namespace spoold
