// The stream benchmark's wire format, fixed so other tools can drive or read it:
//   [u32 LE total_len][u64 LE CLOCK_MONOTONIC ns, taken by the producer][payload: total_len - 8 bytes]
// The payload's first 8 bytes are a per-connection sequence number (u64 LE,
// from 0); byte k after them is (seq + k) mod 256.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace spool::bench {

inline constexpr std::size_t kFrameLengthBytes = 4;
inline constexpr std::size_t kFrameHeaderBytes = kFrameLengthBytes + 8;  // length + timestamp
/// The smallest message the benchmark sends: header + sequence number.
inline constexpr std::size_t kMinMessageBytes = kFrameHeaderBytes + 8;
/// The largest message it sends or accepts.
inline constexpr std::size_t kMaxMessageBytes = 1 << 20;

/// 256 + kMaxMessageBytes bytes where byte i is i mod 256: the pattern of
/// sequence number s starts at patternTable() + s % 256.
const std::byte* patternTable() noexcept;

inline void storeLe32(std::byte* dst, std::uint32_t v) noexcept { std::memcpy(dst, &v, 4); }
inline void storeLe64(std::byte* dst, std::uint64_t v) noexcept { std::memcpy(dst, &v, 8); }
inline std::uint32_t loadLe32(const std::byte* src) noexcept {
  std::uint32_t v;
  std::memcpy(&v, src, 4);
  return v;
}
inline std::uint64_t loadLe64(const std::byte* src) noexcept {
  std::uint64_t v;
  std::memcpy(&v, src, 8);
  return v;
}
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the wire format is little-endian");

/// Writes one whole message of `size` wire bytes (kMinMessageBytes..kMaxMessageBytes).
inline void encodeMessage(std::byte* dst, std::size_t size, std::uint64_t ts, std::uint64_t seq) noexcept {
  storeLe32(dst, static_cast<std::uint32_t>(size - kFrameLengthBytes));
  storeLe64(dst + 4, ts);
  storeLe64(dst + kFrameHeaderBytes, seq);
  std::memcpy(dst + kMinMessageBytes, patternTable() + seq % 256, size - kMinMessageBytes);
}

/// True when the payload after the sequence number matches the pattern of `seq`.
inline bool payloadMatches(const std::byte* rest, std::size_t size, std::uint64_t seq) noexcept {
  return std::memcmp(rest, patternTable() + seq % 256, size) == 0;
}

}  // namespace spool::bench
