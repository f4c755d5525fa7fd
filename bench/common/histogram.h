// Log-linear latency histogram: O(1) record, mergeable, ~1.6% precision.
#pragma once

#include <array>
#include <cstdint>

namespace spool::bench {

/// Counts values (nanoseconds, by convention) in buckets that are exact
/// below 128 and then 64 per power of two (relative error under 1/64), like
/// HdrHistogram with 2 significant digits. Not thread-safe: keep one per
/// thread and merge() them at the end. The maximum is exact.
class LatencyHistogram {
 public:
  void record(std::uint64_t value) noexcept {
    ++counts_[bucketOf(value)];
    ++count_;
    if (value > max_) {
      max_ = value;
    }
  }
  void merge(const LatencyHistogram& other) noexcept;

  [[nodiscard]] std::uint64_t count() const noexcept { return count_; }
  [[nodiscard]] std::uint64_t max() const noexcept { return max_; }
  /// The value below which `q` (0..1) of the recorded values fall (the
  /// bucket's midpoint, capped at the exact maximum); 0 when empty.
  [[nodiscard]] std::uint64_t quantile(double q) const noexcept;

 private:
  static constexpr unsigned kSubBits = 7;
  static constexpr std::uint64_t kSub = 1u << kSubBits;  // exact below this
  static constexpr std::uint64_t kHalf = kSub / 2;
  static constexpr std::size_t kBuckets = kSub + (64 - kSubBits) * kHalf;

  static std::size_t bucketOf(std::uint64_t value) noexcept {
    if (value < kSub) {
      return static_cast<std::size_t>(value);
    }
    const unsigned shift = 64 - static_cast<unsigned>(__builtin_clzll(value)) - kSubBits;
    return kSub + (shift - 1) * kHalf + ((value >> shift) - kHalf);
  }
  static std::uint64_t midpointOf(std::size_t bucket) noexcept;

  std::array<std::uint64_t, kBuckets> counts_{};
  std::uint64_t count_ = 0;
  std::uint64_t max_ = 0;
};

}  // namespace spool::bench
