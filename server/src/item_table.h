// The hash table of one store shard: open addressing over the items' own keys.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "item.h"

namespace spoold {

/// A 64-bit hash of a key, eight bytes at a time, finished with Murmur3's
/// finaliser so that both ends are well mixed: the store picks the shard
/// from the high bits and the table slot from the low ones. (Plain FNV-1a
/// failed that: keys differing only in their last digits, the usual case,
/// landed in a handful of shards and long probe runs.)
[[nodiscard]] std::uint64_t hashKey(std::string_view key) noexcept;

/// Items by key, with linear probing and backward-shift deletion. A slot
/// holds the key's hash and the item that owns the key bytes, so a lookup
/// touches the slot array and, on a hash match, the item itself: no nodes,
/// no separate key copies. Grows at three quarters full: at half full the
/// slot array was a quarter of a full cache's memory (16 bytes a slot, up
/// to four slots an item), more than `-m` left room for.
///
/// Not thread-safe: the owning Store shard's lock guards it.
class ItemTable {
 public:
  ItemTable() : slots_(kInitialSlots) {}

  [[nodiscard]] Item* find(std::string_view key) const noexcept;
  /// Adds `item`, whose key must not be present.
  void insert(ItemPtr item);
  /// Puts `fresh` (same key) where `old` is; returns `old`'s ownership.
  ItemPtr replace(const Item& old, ItemPtr fresh) noexcept;
  /// Takes `item` out of the table.
  ItemPtr erase(const Item& item) noexcept;
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  void clear() noexcept;

 private:
  struct Slot {
    std::uint64_t hash = 0;
    ItemPtr item;
  };
  static constexpr std::size_t kInitialSlots = 64;

  [[nodiscard]] std::size_t mask() const noexcept { return slots_.size() - 1; }
  [[nodiscard]] std::size_t slotOf(const Item& item) const noexcept;
  void place(std::uint64_t hash, ItemPtr item) noexcept;
  void grow();

  std::vector<Slot> slots_;
  std::size_t size_ = 0;
};

}  // namespace spoold
