#include "numbers.h"

#include <charconv>
#include <climits>

namespace spoold {
namespace {

bool isSpace(char c) noexcept {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

/// strtoull/strtoll's shape: whitespace, sign, digits; the magnitude
/// saturates (overflow is reported separately).
struct Scanned {
  bool negative = false;
  bool overflow = false;
  bool valid = false;  // digits seen and followed by the end or whitespace
  std::uint64_t magnitude = 0;
};

Scanned scan(std::string_view text) noexcept {
  Scanned s;
  std::size_t i = 0;
  while (i < text.size() && isSpace(text[i])) {
    ++i;
  }
  if (i < text.size() && (text[i] == '+' || text[i] == '-')) {
    s.negative = text[i] == '-';
    ++i;
  }
  const std::size_t digits_start = i;
  for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i) {
    const auto digit = static_cast<std::uint64_t>(text[i] - '0');
    if (s.magnitude > (UINT64_MAX - digit) / 10) {
      s.overflow = true;
    } else {
      s.magnitude = s.magnitude * 10 + digit;
    }
  }
  s.valid = i > digits_start && (i == text.size() || isSpace(text[i]));
  return s;
}

}  // namespace

bool parseU64(std::string_view text, std::uint64_t& out) noexcept {
  const Scanned s = scan(text);
  if (!s.valid || s.overflow || (s.negative && s.magnitude != 0)) {
    return false;
  }
  out = s.magnitude;
  return true;
}

bool parseU32(std::string_view text, std::uint32_t& out) noexcept {
  std::uint64_t value = 0;
  if (!parseU64(text, value)) {
    return false;
  }
  out = static_cast<std::uint32_t>(value);
  return true;
}

bool parseI32(std::string_view text, std::int32_t& out) noexcept {
  // strtol on a 64-bit host: out of the 64-bit range fails (ERANGE); the
  // result is then stored into an int32_t, keeping its low 32 bits.
  const Scanned s = scan(text);
  const std::uint64_t limit = s.negative ? static_cast<std::uint64_t>(LLONG_MAX) + 1 : LLONG_MAX;
  if (!s.valid || s.overflow || s.magnitude > limit) {
    return false;
  }
  const std::uint64_t bits = s.negative ? ~s.magnitude + 1 : s.magnitude;
  out = static_cast<std::int32_t>(static_cast<std::uint32_t>(bits));
  return true;
}

char* formatU64(std::uint64_t value, char* buffer) noexcept {
  return std::to_chars(buffer, buffer + 20, value).ptr;
}

}  // namespace spoold
