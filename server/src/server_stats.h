// Command counters with memcached's names, cheap to bump from any thread.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace spoold {

/// The per-command counters of `stats`, in memcached's order.
enum class Counter : std::uint8_t {
  kCmdGet, kCmdSet, kCmdFlush, kCmdTouch, kCmdMeta,
  kGetHits, kGetMisses,
  kDeleteMisses, kDeleteHits, kIncrMisses, kIncrHits, kDecrMisses, kDecrHits,
  kCasMisses, kCasHits, kCasBadval, kTouchHits, kTouchMisses,
  kStoreTooLarge, kStoreNoMemory, kAuthCmds, kAuthErrors,
  kIdleKicks,   ///< connections closed by -o idle_timeout (after auth_errors in `stats`)
  kConnYields,  ///< not with the others in `stats`: after `threads`, as memcached
  kCount,
};

/// memcached's name of `counter` ("cmd_get", ...).
std::string_view counterName(Counter counter) noexcept;

/// Counters spread over cache-line-sized slots by thread, so that loop and
/// worker threads do not fight over one line; read by summing the slots.
/// Thread-safe.
class ServerStats {
 public:
  void add(Counter counter, std::uint64_t n = 1) noexcept {
    slots_[slotIndex()].values[static_cast<std::size_t>(counter)].fetch_add(
        n, std::memory_order_relaxed);
  }
  [[nodiscard]] std::uint64_t get(Counter counter) const noexcept;
  /// `stats reset`.
  void reset() noexcept;

 private:
  static constexpr std::size_t kSlots = 16;
  struct alignas(64) Slot {
    std::array<std::atomic<std::uint64_t>, static_cast<std::size_t>(Counter::kCount)> values{};
  };
  static std::size_t slotIndex() noexcept;
  std::array<Slot, kSlots> slots_{};
};

}  // namespace spoold
