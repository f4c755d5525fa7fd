#include "base64.h"

#include <algorithm>
#include <array>
#include <cstdint>

namespace spoold {
namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

constexpr std::array<std::int8_t, 256> makeReverse() {
  std::array<std::int8_t, 256> table{};
  table.fill(-1);
  for (int i = 0; i < 64; ++i) {
    table[static_cast<unsigned char>(kAlphabet[i])] = static_cast<std::int8_t>(i);
  }
  return table;
}
constexpr auto kReverse = makeReverse();

}  // namespace

bool base64Decode(std::string_view in, std::string& out) {
  out.clear();
  const auto symbol = [](char c) { return c == '=' || kReverse[static_cast<unsigned char>(c)] >= 0; };
  if (const auto count = std::count_if(in.begin(), in.end(), symbol); count == 0 || count % 4 != 0) {
    return false;
  }
  std::uint32_t group = 0;
  int filled = 0;
  int padding = 0;
  for (const char c : in) {
    if (!symbol(c)) {
      continue;  // skipped, as memcached's decoder does
    }
    padding += c == '=' ? 1 : 0;
    group = (group << 6) | static_cast<std::uint32_t>(c == '=' ? 0 : kReverse[static_cast<unsigned char>(c)]);
    if (++filled < 4) {
      continue;
    }
    if (padding > 2) {
      return false;
    }
    out.push_back(static_cast<char>(group >> 16));
    if (padding < 2) out.push_back(static_cast<char>(group >> 8));
    if (padding < 1) out.push_back(static_cast<char>(group));
    if (padding > 0) {
      break;  // the first padded group ends the data
    }
    group = 0;
    filled = 0;
  }
  return !out.empty();
}

void base64Encode(std::string_view in, std::string& out) {
  for (std::size_t i = 0; i < in.size(); i += 3) {
    const std::size_t n = std::min<std::size_t>(3, in.size() - i);
    std::uint32_t group = 0;
    for (std::size_t j = 0; j < 3; ++j) {
      group = (group << 8) | (j < n ? static_cast<unsigned char>(in[i + j]) : 0u);
    }
    out.push_back(kAlphabet[(group >> 18) & 63]);
    out.push_back(kAlphabet[(group >> 12) & 63]);
    out.push_back(n > 1 ? kAlphabet[(group >> 6) & 63] : '=');
    out.push_back(n > 2 ? kAlphabet[group & 63] : '=');
  }
}

}  // namespace spoold
