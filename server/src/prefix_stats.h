// memcached's per-prefix statistics: `stats detail on|off|dump` and -D.
#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace spoold {

/// Counts gets, hits, sets and deletes per key prefix (the part of a key
/// before the delimiter; keys without one are not counted), as memcached
/// does while `detail_enabled`. Thread-safe.
class PrefixStats {
 public:
  explicit PrefixStats(char delimiter) : delimiter_(delimiter) {}

  void recordGet(std::string_view key, bool hit);
  void recordSet(std::string_view key);
  void recordDelete(std::string_view key);
  /// `stats detail dump`: "PREFIX <p> get <n> hit <n> set <n> del <n>\r\n"
  /// lines in memcached's order (its 256 hash buckets in turn, the newest
  /// prefix first within one), then "END\r\n".
  [[nodiscard]] std::string dump() const;
  /// `stats reset`.
  void clear();

 private:
  struct Entry {
    std::string prefix;
    std::uint64_t gets = 0;
    std::uint64_t hits = 0;
    std::uint64_t sets = 0;
    std::uint64_t deletes = 0;
  };
  /// The entry of `key`'s prefix, made on first use; null without a delimiter.
  Entry* findLocked(std::string_view key);

  const char delimiter_;
  mutable std::mutex mutex_;
  std::array<std::vector<Entry>, 256> buckets_;  // each: oldest first
};

/// MurmurHash3 x86 32-bit with seed 0: memcached's default hash, which
/// orders its prefix table.
std::uint32_t murmur3_32(std::string_view data) noexcept;

}  // namespace spoold
