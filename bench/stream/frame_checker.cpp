#include "frame_checker.h"

#include <cstring>

#include "frame.h"

namespace spool::bench {

FrameChecker::FrameChecker() : buffer_(std::make_unique<std::byte[]>(kCapacity)) {}

bool FrameChecker::received(std::size_t n, std::uint64_t now_ns, bool measuring, StreamTally& tally) noexcept {
  fill_ += n;
  std::size_t pos = 0;
  bool ok = true;
  while (fill_ - pos >= kFrameLengthBytes) {
    const std::byte* frame = buffer_.get() + pos;
    const std::size_t total_len = loadLe32(frame);
    if (total_len < kMinMessageBytes - kFrameLengthBytes || total_len + kFrameLengthBytes > kMaxMessageBytes) {
      ++tally.frames_bad;
      ok = false;  // cannot find the next frame boundary
      break;
    }
    const std::size_t size = total_len + kFrameLengthBytes;
    if (fill_ - pos < size) {
      break;
    }
    const std::uint64_t ts = loadLe64(frame + kFrameLengthBytes);
    const std::uint64_t seq = loadLe64(frame + kFrameHeaderBytes);
    if (seq != expected_seq_ || !payloadMatches(frame + kMinMessageBytes, size - kMinMessageBytes, seq)) {
      ++tally.frames_bad;
    }
    expected_seq_ = seq + 1;
    if (measuring) {
      ++tally.msgs;
      tally.bytes += size;
      tally.latency.record(now_ns > ts ? now_ns - ts : 0);
    }
    pos += size;
  }
  if (pos > 0) {
    std::memmove(buffer_.get(), buffer_.get() + pos, fill_ - pos);
    fill_ -= pos;
  }
  return ok;
}

}  // namespace spool::bench
