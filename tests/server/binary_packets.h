// Building binary-protocol requests in tests.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

#include "binary_codec.h"

namespace spoold::test {

/// A request with opaque 0xdeadbeef.
inline std::string binaryPacket(std::uint8_t opcode, std::string_view key = {}, std::string_view value = {},
                                std::string_view extras = {}, std::uint64_t cas = 0) {
  std::string p(binary::kHeaderSize, '\0');
  p[0] = static_cast<char>(binary::kRequestMagic);
  p[1] = static_cast<char>(opcode);
  p[2] = static_cast<char>(key.size() >> 8);
  p[3] = static_cast<char>(key.size() & 0xff);
  p[4] = static_cast<char>(extras.size());
  binary::writeU32(static_cast<std::uint32_t>(extras.size() + key.size() + value.size()), p.data() + 8);
  binary::writeU32(0xdeadbeef, p.data() + 12);
  binary::writeU64(cas, p.data() + 16);
  return p + std::string(extras) + std::string(key) + std::string(value);
}

/// Big-endian 32-bit words, for extras.
inline std::string u32s(std::initializer_list<std::uint32_t> values) {
  std::string out;
  for (const auto v : values) {
    char b[4];
    binary::writeU32(v, b);
    out.append(b, 4);
  }
  return out;
}

/// INCREMENT/DECREMENT extras: delta, initial value, expiration.
inline std::string incrExtras(std::uint64_t delta, std::uint64_t initial, std::uint32_t exptime) {
  std::string out(20, '\0');
  binary::writeU64(delta, out.data());
  binary::writeU64(initial, out.data() + 8);
  binary::writeU32(exptime, out.data() + 16);
  return out;
}

}  // namespace spoold::test
