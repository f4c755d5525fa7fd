#include "histogram.h"

#include <algorithm>
#include <cmath>

namespace spool::bench {

void LatencyHistogram::merge(const LatencyHistogram& other) noexcept {
  for (std::size_t i = 0; i < kBuckets; ++i) {
    counts_[i] += other.counts_[i];
  }
  count_ += other.count_;
  max_ = std::max(max_, other.max_);
}

std::uint64_t LatencyHistogram::midpointOf(std::size_t bucket) noexcept {
  if (bucket < kSub) {
    return bucket;
  }
  const std::size_t rel = bucket - kSub;
  const unsigned shift = static_cast<unsigned>(rel / kHalf) + 1;
  const std::uint64_t low = (kHalf + rel % kHalf) << shift;
  return low + ((std::uint64_t{1} << shift) >> 1);
}

std::uint64_t LatencyHistogram::quantile(double q) const noexcept {
  if (count_ == 0) {
    return 0;
  }
  const auto rank = static_cast<std::uint64_t>(std::ceil(std::clamp(q, 0.0, 1.0) * static_cast<double>(count_)));
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < kBuckets; ++i) {
    seen += counts_[i];
    if (seen >= std::max<std::uint64_t>(rank, 1)) {
      return std::min(midpointOf(i), max_);
    }
  }
  return max_;
}

}  // namespace spool::bench
