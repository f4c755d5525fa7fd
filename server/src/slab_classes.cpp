#include "slab_classes.h"

#include <algorithm>

namespace spoold {
namespace {
constexpr std::size_t kItemHeader = 48;  // memcached's sizeof(item) on 64-bit
constexpr std::size_t kAlign = 8;
constexpr std::size_t kMaxClasses = 63;
}  // namespace

SlabClasses::SlabClasses(std::size_t item_size_max, double growth_factor, std::size_t chunk_size) {
  const std::size_t first = kItemHeader + chunk_size;
  const std::size_t chunk_max = std::max<std::size_t>(item_size_max / 2, first);
  double size = static_cast<double>(first);
  while (sizes_.size() < kMaxClasses - 1 && size < static_cast<double>(chunk_max) / growth_factor) {
    auto aligned = static_cast<std::size_t>(size);
    if (aligned % kAlign != 0) {
      aligned += kAlign - aligned % kAlign;
    }
    sizes_.push_back(aligned);
    size = static_cast<double>(aligned) * growth_factor;
  }
  sizes_.push_back(chunk_max);
}

std::uint8_t SlabClasses::classFor(std::size_t total_size) const noexcept {
  const auto it = std::lower_bound(sizes_.begin(), sizes_.end(), total_size);
  if (it == sizes_.end()) {
    return static_cast<std::uint8_t>(sizes_.size());
  }
  return static_cast<std::uint8_t>(it - sizes_.begin() + 1);
}

std::size_t SlabClasses::chunkSize(std::uint8_t id) const noexcept {
  return id >= 1 && id <= sizes_.size() ? sizes_[id - 1] : 0;
}

}  // namespace spoold
