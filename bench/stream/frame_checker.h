// Client side of the stream wire format: splits a byte stream into frames
// and validates each (length, sequence, payload pattern).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "histogram.h"

namespace spool::bench {

/// What one client thread saw.
struct StreamTally {
  std::uint64_t msgs = 0;         ///< frames received in the measured window
  std::uint64_t bytes = 0;        ///< their wire bytes
  std::uint64_t frames_bad = 0;   ///< any time
  LatencyHistogram latency;       ///< producer timestamp -> recv() returned, measured window
};

/// One connection's receive buffer and expected sequence number.
class FrameChecker {
 public:
  FrameChecker();
  /// Where the next recv() may write, and how much.
  [[nodiscard]] std::byte* space() noexcept { return buffer_.get() + fill_; }
  [[nodiscard]] std::size_t spaceLeft() const noexcept { return kCapacity - fill_; }
  /// `n` bytes arrived at `now_ns`; counts them into `tally` when `measuring`.
  /// False when the stream is corrupt beyond resynchronising (bad length).
  bool received(std::size_t n, std::uint64_t now_ns, bool measuring, StreamTally& tally) noexcept;

 private:
  static constexpr std::size_t kCapacity = (1 << 20) + (256 << 10);
  std::unique_ptr<std::byte[]> buffer_;
  std::size_t fill_ = 0;
  std::uint64_t expected_seq_ = 0;
};

}  // namespace spool::bench
