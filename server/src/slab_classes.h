// memcached's slab class table, used to report item classes and sizes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace spoold {

/// The chunk sizes memcached would use for a given item size limit, growth
/// factor (-f, default 1.25) and minimum key+value+flags space (-n, default 48). spoold does not allocate from slabs;
/// it reports the class an item would live in so `cls=` and `stats items`
/// read like memcached's.
class SlabClasses {
 public:
  explicit SlabClasses(std::size_t item_size_max, double growth_factor = 1.25, std::size_t chunk_size = 48);
  /// Class id (1-based) for an item of `total_size` bytes.
  [[nodiscard]] std::uint8_t classFor(std::size_t total_size) const noexcept;
  [[nodiscard]] std::size_t chunkSize(std::uint8_t id) const noexcept;
  [[nodiscard]] std::size_t count() const noexcept { return sizes_.size(); }
  /// Largest chunk; items above it are split into chunks by memcached.
  [[nodiscard]] std::size_t chunkMax() const noexcept { return sizes_.back(); }

 private:
  std::vector<std::size_t> sizes_;  // sizes_[id - 1]
};

}  // namespace spoold
