#include "slot_registry.h"

#include <algorithm>

namespace spool::bench {

void SlotRegistry::add(const StreamSlotPtr& slot) {
  {
    std::lock_guard lock(mutex_);
    const auto owner = static_cast<unsigned>(opened_ % wakers_.size());
    slot->waker = &wakers_[owner];
    by_producer_[owner].push_back(slot);
    ++opened_;
    ++open_;
    version_.fetch_add(1, std::memory_order_release);
  }
  cv_.notify_all();
  slot->waker->notify();
}

void SlotRegistry::markClosed(StreamSlot& slot) {
  {
    std::lock_guard lock(mutex_);
    if (slot.closed.exchange(true)) {
      return;
    }
    for (auto& slots : by_producer_) {
      std::erase_if(slots, [&](const StreamSlotPtr& s) { return s.get() == &slot; });
    }
    --open_;
    version_.fetch_add(1, std::memory_order_release);
  }
  cv_.notify_all();
  if (slot.waker != nullptr) {
    slot.waker->notify();
  }
}

std::vector<StreamSlotPtr> SlotRegistry::slotsOf(unsigned producer) {
  std::lock_guard lock(mutex_);
  return by_producer_[producer];
}

}  // namespace spool::bench
