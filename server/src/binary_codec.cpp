#include "binary_codec.h"

namespace spoold::binary {

std::uint32_t readU32(const char* p) noexcept {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return (std::uint32_t{u[0]} << 24) | (std::uint32_t{u[1]} << 16) | (std::uint32_t{u[2]} << 8) |
         std::uint32_t{u[3]};
}

std::uint64_t readU64(const char* p) noexcept {
  return (std::uint64_t{readU32(p)} << 32) | readU32(p + 4);
}

void writeU32(std::uint32_t value, char* p) noexcept {
  for (int i = 3; i >= 0; --i) {
    p[i] = static_cast<char>(value & 0xff);
    value >>= 8;
  }
}

void writeU64(std::uint64_t value, char* p) noexcept {
  writeU32(static_cast<std::uint32_t>(value >> 32), p);
  writeU32(static_cast<std::uint32_t>(value), p + 4);
}

Header decodeHeader(std::string_view bytes) noexcept {
  const char* p = bytes.data();
  Header h;
  h.magic = static_cast<std::uint8_t>(p[0]);
  h.opcode = static_cast<std::uint8_t>(p[1]);
  h.key_length = static_cast<std::uint16_t>(readU32(p) & 0xffff);
  h.extras_length = static_cast<std::uint8_t>(p[4]);
  h.data_type = static_cast<std::uint8_t>(p[5]);
  h.vbucket = static_cast<std::uint16_t>(readU32(p + 4) & 0xffff);
  h.body_length = readU32(p + 8);
  h.opaque = readU32(p + 12);
  h.cas = readU64(p + 16);
  return h;
}

void encodeResponseHeader(const ResponseHeader& header, char* dst) noexcept {
  dst[0] = static_cast<char>(kResponseMagic);
  dst[1] = static_cast<char>(header.opcode);
  dst[2] = static_cast<char>(header.key_length >> 8);
  dst[3] = static_cast<char>(header.key_length & 0xff);
  dst[4] = static_cast<char>(header.extras_length);
  dst[5] = 0;  // raw bytes
  dst[6] = static_cast<char>(header.status >> 8);
  dst[7] = static_cast<char>(header.status & 0xff);
  writeU32(header.body_length, dst + 8);
  writeU32(header.opaque, dst + 12);
  writeU64(header.cas, dst + 16);
}

std::string_view statusMessage(std::uint16_t status) noexcept {
  switch (status) {
    case kOutOfMemory: return "Out of memory";
    case kUnknownCommand: return "Unknown command";
    case kAuthError: return "Auth failure.";
    case kKeyNotFound: return "Not found";
    case kInvalidArguments: return "Invalid arguments";
    case kKeyExists: return "Data exists for key.";
    case kTooLarge: return "Too large.";
    case kDeltaBadValue: return "Non-numeric server-side value for incr or decr";
    case kNotStored: return "Not stored.";
    default: return "UNHANDLED ERROR";
  }
}

std::uint8_t loudOpcode(std::uint8_t opcode, bool& quiet) noexcept {
  quiet = true;
  switch (opcode) {
    case kSetQ: return kSet;
    case kAddQ: return kAdd;
    case kReplaceQ: return kReplace;
    case kDeleteQ: return kDelete;
    case kIncrementQ: return kIncrement;
    case kDecrementQ: return kDecrement;
    case kQuitQ: return kQuit;
    case kFlushQ: return kFlush;
    case kAppendQ: return kAppend;
    case kPrependQ: return kPrepend;
    case kGetQ: return kGet;
    case kGetKQ: return kGetK;
    case kGatQ: return kGat;
    case kGatKQ: return kGatK;
    default: quiet = false; return opcode;
  }
}

}  // namespace spoold::binary
