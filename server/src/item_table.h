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

/// Items by key, with linear probing and backward-shift deletion. A slot is
/// 8 bytes: the address of the item that owns the key bytes, with the top 16
/// bits of the key's hash in the address's unused top bits, so a lookup
/// touches the slot array and, on a tag match, the item itself: no nodes, no
/// separate key copies. Grows at three quarters full. (16-byte slots at half
/// full were a sixth of a full cache's memory, more than `-m` left room for.)
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
  /// The bytes of the slot array (`stats` hash_bytes).
  [[nodiscard]] std::size_t bytes() const noexcept { return slots_.size() * sizeof(Slot); }
  void clear() noexcept;

 private:
  /// An owned item's address tagged with its key's hash, or empty (0).
  /// User-space addresses of 64-bit Linux fit in 48 bits; the top 16 hold
  /// the tag.
  class Slot {
   public:
    Slot() = default;
    Slot(std::uint64_t hash, ItemPtr item) noexcept;
    Slot(Slot&& other) noexcept : bits_(other.bits_) { other.bits_ = 0; }
    Slot& operator=(Slot&& other) noexcept;
    ~Slot() { reset(); }

    [[nodiscard]] explicit operator bool() const noexcept { return bits_ != 0; }
    [[nodiscard]] Item* get() const noexcept { return reinterpret_cast<Item*>(bits_ & kAddressMask); }
    [[nodiscard]] bool tagMatches(std::uint64_t hash) const noexcept { return (bits_ >> kTagShift) == (hash >> kTagShift); }
    /// Gives up the item, leaving the slot empty.
    ItemPtr take() noexcept;
    /// Puts `fresh` (same key, so the same tag) in place of the item; returns the old one.
    ItemPtr exchange(ItemPtr fresh) noexcept;
    void reset() noexcept;

   private:
    static constexpr int kTagShift = 48;
    static constexpr std::uintptr_t kAddressMask = (std::uintptr_t{1} << kTagShift) - 1;
    std::uintptr_t bits_ = 0;
  };
  static_assert(sizeof(Slot) == 8);
  static constexpr std::size_t kInitialSlots = 64;

  [[nodiscard]] std::size_t mask() const noexcept { return slots_.size() - 1; }
  [[nodiscard]] std::size_t slotOf(const Item& item) const noexcept;
  [[nodiscard]] std::size_t homeOf(const Item& item) const noexcept { return hashKey(item.key()) & mask(); }
  void place(std::uint64_t hash, ItemPtr item) noexcept;
  void grow();

  std::vector<Slot> slots_;
  std::size_t size_ = 0;
};

}  // namespace spoold
