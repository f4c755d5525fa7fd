// The binary protocol's wire format: pure encoders and decoders.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace spoold {

namespace binary {

inline constexpr std::uint8_t kRequestMagic = 0x80;
inline constexpr std::uint8_t kResponseMagic = 0x81;
inline constexpr std::size_t kHeaderSize = 24;

enum Opcode : std::uint8_t {
  kGet = 0x00, kSet = 0x01, kAdd = 0x02, kReplace = 0x03, kDelete = 0x04,
  kIncrement = 0x05, kDecrement = 0x06, kQuit = 0x07, kFlush = 0x08, kGetQ = 0x09,
  kNoop = 0x0a, kVersionOp = 0x0b, kGetK = 0x0c, kGetKQ = 0x0d, kAppend = 0x0e,
  kPrepend = 0x0f, kStat = 0x10, kSetQ = 0x11, kAddQ = 0x12, kReplaceQ = 0x13,
  kDeleteQ = 0x14, kIncrementQ = 0x15, kDecrementQ = 0x16, kQuitQ = 0x17, kFlushQ = 0x18,
  kAppendQ = 0x19, kPrependQ = 0x1a, kTouch = 0x1c, kGat = 0x1d, kGatQ = 0x1e,
  kGatK = 0x23, kGatKQ = 0x24,
};

enum Status : std::uint16_t {
  kSuccess = 0x00, kKeyNotFound = 0x01, kKeyExists = 0x02, kTooLarge = 0x03,
  kInvalidArguments = 0x04, kNotStored = 0x05, kDeltaBadValue = 0x06,
  kAuthError = 0x20, kUnknownCommand = 0x81, kOutOfMemory = 0x82,
};

/// A request header in host byte order.
struct Header {
  std::uint8_t magic = 0;
  std::uint8_t opcode = 0;
  std::uint16_t key_length = 0;
  std::uint8_t extras_length = 0;
  std::uint8_t data_type = 0;
  std::uint16_t vbucket = 0;
  std::uint32_t body_length = 0;
  std::uint32_t opaque = 0;  ///< echoed as is (byte order irrelevant)
  std::uint64_t cas = 0;
};

/// Decodes the first kHeaderSize bytes of `bytes` (which must hold them).
Header decodeHeader(std::string_view bytes) noexcept;

/// Response header fields, host order.
struct ResponseHeader {
  std::uint8_t opcode = 0;
  std::uint16_t status = kSuccess;
  std::uint8_t extras_length = 0;
  std::uint16_t key_length = 0;
  std::uint32_t body_length = 0;
  std::uint32_t opaque = 0;
  std::uint64_t cas = 0;
};

/// Writes a response header into `dst` (kHeaderSize bytes).
void encodeResponseHeader(const ResponseHeader& header, char* dst) noexcept;

/// Big-endian readers and writers for extras.
std::uint32_t readU32(const char* p) noexcept;
std::uint64_t readU64(const char* p) noexcept;
void writeU32(std::uint32_t value, char* p) noexcept;
void writeU64(std::uint64_t value, char* p) noexcept;

/// The message memcached puts in the body of an error status.
std::string_view statusMessage(std::uint16_t status) noexcept;

/// The non-quiet opcode of a quiet one (SETQ -> SET ...); others unchanged.
std::uint8_t loudOpcode(std::uint8_t opcode, bool& quiet) noexcept;

}  // namespace binary
}  // namespace spoold
