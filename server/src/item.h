// One cached item: header, key and value in a single allocation.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "clock.h"

namespace spoold {

/// Key length limit of the memcached protocols.
inline constexpr std::size_t kMaxKeyLength = 250;

/// A stored item. The key and value bytes follow the header in the same
/// block; the value excludes the protocol's trailing "\r\n".
///
/// Not thread-safe: an Item is touched only under its Store shard's lock.
struct Item {
  Item* lru_prev = nullptr;  ///< towards the most recently used (non-owning)
  Item* lru_next = nullptr;  ///< towards the least recently used (non-owning)
  std::uint64_t cas = 0;
  RelTime exptime = 0;  ///< 0: never
  RelTime time = 0;     ///< last access
  std::uint32_t flags = 0;
  std::uint32_t value_size = 0;
  std::uint8_t key_size = 0;  ///< at most kMaxKeyLength
  std::uint8_t slab_class = 0;
  bool fetched : 1 = false;
  bool stale : 1 = false;       ///< meta: invalidated (md I), served with X
  bool token_sent : 1 = false;  ///< meta: a client won the recache token (W), others see Z
  bool no_cas : 1 = false;      ///< -C: like memcached's, the item has no 8 bytes of CAS
  bool key_binary : 1 = false;  ///< meta: stored by `ms` with b, so mg's k shows it in base64

  [[nodiscard]] std::string_view key() const noexcept {
    return {reinterpret_cast<const char*>(this + 1), key_size};
  }
  [[nodiscard]] std::string_view value() const noexcept {
    return {reinterpret_cast<const char*>(this + 1) + key_size, value_size};
  }
  [[nodiscard]] char* mutableValue() noexcept { return reinterpret_cast<char*>(this + 1) + key_size; }
  /// memcached's accounting size of this item (header, key, value, CRLF).
  [[nodiscard]] std::size_t totalSize() const noexcept {
    return totalSize(key_size, value_size, flags, !no_cas);
  }

  /// memcached's item size: a 48-byte header, 8 bytes of CAS (none with
  /// -C), the key with a terminator, the value with CRLF, and 4 bytes of
  /// flags when non-zero.
  static constexpr std::size_t totalSize(std::size_t key, std::size_t value, std::uint32_t flags,
                                         bool with_cas = true) {
    return 48 + (with_cas ? 8 : 0) + key + 1 + value + 2 + (flags != 0 ? 4 : 0);
  }
};

// 48 bytes: with a 16-byte key and a 100-byte value the item is one
// 176-byte malloc chunk, where 56 bytes made it 192 (glibc rounds to 16).
static_assert(sizeof(Item) == 48, "keep the item header in 48 bytes");

struct ItemDeleter {
  void operator()(Item* item) const noexcept;
};
using ItemPtr = std::unique_ptr<Item, ItemDeleter>;

/// A new item with `key` and room for `value_size` value bytes (uninitialised).
ItemPtr makeItem(std::string_view key, std::size_t value_size);

}  // namespace spoold
