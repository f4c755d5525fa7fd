// Number parsing with memcached's exact acceptance rules (its safe_strto*).
#pragma once

#include <cstdint>
#include <string_view>

namespace spoold {

/// Parses like memcached's safe_strtoull: optional leading whitespace and
/// sign, decimal digits, then the end or whitespace; out of range fails; a
/// minus sign is accepted only when the result is zero.
bool parseU64(std::string_view text, std::uint64_t& out) noexcept;
/// memcached's safe_strtoul on a 64-bit host: parsed as 64-bit, then
/// truncated to 32 bits (so "99999999999" is accepted, "-1" is not).
bool parseU32(std::string_view text, std::uint32_t& out) noexcept;
/// memcached 1.6.18's safe_strtol on a 64-bit host: parsed as a 64-bit
/// long (out of its range fails), then truncated to 32 bits, so
/// "4294967297" is 1 and "2147483648" is INT32_MIN.
bool parseI32(std::string_view text, std::int32_t& out) noexcept;
/// Appends the decimal form of `value` to `buffer` (at least 20 bytes free);
/// returns the end.
char* formatU64(std::uint64_t value, char* buffer) noexcept;

}  // namespace spoold
