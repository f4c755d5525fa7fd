#include "item_table.h"

#include <cassert>
#include <cstring>

namespace spoold {

namespace {

constexpr std::uint64_t kMul1 = 0x9e3779b97f4a7c15ull;
constexpr std::uint64_t kMul2 = 0xc2b2ae3d27d4eb4full;

std::uint64_t rotl(std::uint64_t x, int r) noexcept { return (x << r) | (x >> (64 - r)); }

/// Murmur3's 64-bit finaliser: every input bit reaches every output bit.
std::uint64_t finalise(std::uint64_t h) noexcept {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ull;
  h ^= h >> 33;
  return h;
}

std::uint64_t mixWord(std::uint64_t h, std::uint64_t word) noexcept {
  return rotl(h ^ (word * kMul2), 31) * kMul1;
}

}  // namespace

std::uint64_t hashKey(std::string_view key) noexcept {
  const char* p = key.data();
  std::size_t n = key.size();
  std::uint64_t h = kMul1 ^ (n * kMul2);
  for (; n >= 8; p += 8, n -= 8) {
    std::uint64_t word;
    std::memcpy(&word, p, 8);
    h = mixWord(h, word);
  }
  if (n > 0) {
    std::uint64_t word = 0;
    std::memcpy(&word, p, n);
    h = mixWord(h, word);
  }
  return finalise(h);
}

ItemTable::Slot::Slot(std::uint64_t hash, ItemPtr item) noexcept {
  const auto address = reinterpret_cast<std::uintptr_t>(item.release());
  assert((address & ~kAddressMask) == 0 && "an item above 2^48: no room for the slot's tag");
  bits_ = address | (hash >> kTagShift << kTagShift);
}

ItemTable::Slot& ItemTable::Slot::operator=(Slot&& other) noexcept {
  if (this != &other) {
    reset();
    bits_ = other.bits_;
    other.bits_ = 0;
  }
  return *this;
}

ItemPtr ItemTable::Slot::take() noexcept {
  ItemPtr item(get());
  bits_ = 0;
  return item;
}

ItemPtr ItemTable::Slot::exchange(ItemPtr fresh) noexcept {
  ItemPtr old(get());
  const auto address = reinterpret_cast<std::uintptr_t>(fresh.release());
  assert((address & ~kAddressMask) == 0 && "an item above 2^48: no room for the slot's tag");
  bits_ = (bits_ & ~kAddressMask) | address;
  return old;
}

void ItemTable::Slot::reset() noexcept {
  if (bits_ != 0) {
    ItemDeleter{}(get());
    bits_ = 0;
  }
}

Item* ItemTable::find(std::string_view key) const noexcept {
  const std::uint64_t hash = hashKey(key);
  for (std::size_t i = hash & mask();; i = (i + 1) & mask()) {
    const Slot& slot = slots_[i];
    if (!slot) {
      return nullptr;
    }
    if (slot.tagMatches(hash) && slot.get()->key() == key) {
      return slot.get();
    }
  }
}

std::size_t ItemTable::slotOf(const Item& item) const noexcept {
  for (std::size_t i = homeOf(item);; i = (i + 1) & mask()) {
    assert(slots_[i] && "item not in its table");
    if (slots_[i].get() == &item) {
      return i;
    }
  }
}

void ItemTable::place(std::uint64_t hash, ItemPtr item) noexcept {
  std::size_t i = hash & mask();
  while (slots_[i]) {
    i = (i + 1) & mask();
  }
  slots_[i] = Slot(hash, std::move(item));
}

void ItemTable::insert(ItemPtr item) {
  if ((size_ + 1) * 4 > slots_.size() * 3) {
    grow();
  }
  const std::uint64_t hash = hashKey(item->key());
  place(hash, std::move(item));
  ++size_;
}

ItemPtr ItemTable::replace(const Item& old, ItemPtr fresh) noexcept {
  return slots_[slotOf(old)].exchange(std::move(fresh));
}

ItemPtr ItemTable::erase(const Item& item) noexcept {
  std::size_t hole = slotOf(item);
  ItemPtr taken = slots_[hole].take();
  --size_;
  // Backward shift: pull later members of the probe run into the hole when
  // their home slot does not lie cyclically in (hole, here]. Homes come from
  // the keys (a slot keeps only 16 bits of the hash).
  for (std::size_t here = (hole + 1) & mask(); slots_[here]; here = (here + 1) & mask()) {
    const std::size_t home = homeOf(*slots_[here].get());
    const bool stays = hole <= here ? (home > hole && home <= here) : (home > hole || home <= here);
    if (!stays) {
      slots_[hole] = std::move(slots_[here]);
      hole = here;
    }
  }
  return taken;
}

void ItemTable::grow() {
  std::vector<Slot> old(slots_.size() * 2);
  old.swap(slots_);
  for (Slot& slot : old) {
    if (slot) {
      ItemPtr item = slot.take();
      const std::uint64_t hash = hashKey(item->key());
      place(hash, std::move(item));
    }
  }
}

void ItemTable::clear() noexcept {
  for (Slot& slot : slots_) {
    slot.reset();
  }
  size_ = 0;
}

}  // namespace spoold
