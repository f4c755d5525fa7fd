#include "mc_protocol.h"

#include <charconv>
#include <cstring>

#include "binary_protocol.h"
#include "text_protocols.h"

namespace spool::bench {

namespace {
constexpr std::size_t kMaxValueBytes = 1 << 20;
}

KeySpace::KeySpace(std::uint64_t key_count, unsigned key_size, std::size_t value_size)
    : key_count_(key_count), key_size_(key_size), value_size_(value_size) {
  letters_.resize(26 + std::min(value_size, kMaxValueBytes));
  for (std::size_t i = 0; i < letters_.size(); ++i) {
    letters_[i] = static_cast<char>('a' + i % 26);
  }
}

void KeySpace::key(std::uint64_t i, std::string& out) const {
  char digits[24];
  const auto [end, ec] = std::to_chars(digits, digits + sizeof(digits), i);
  const auto n = static_cast<std::size_t>(end - digits);
  const std::size_t pad = key_size_ > n + 1 ? key_size_ - n - 1 : 0;
  out.resize(1 + pad + n);
  out[0] = 'k';
  std::memset(out.data() + 1, '0', pad);
  std::memcpy(out.data() + 1 + pad, digits, n);
}

unsigned KeySpace::minKeySize(std::uint64_t key_count) noexcept {
  unsigned digits = 1;
  for (std::uint64_t v = key_count > 0 ? key_count - 1 : 0; v >= 10; v /= 10) {
    ++digits;
  }
  return digits + 1;
}

std::unique_ptr<McProtocol> makeMcProtocol(const std::string& name) {
  if (name == "text") {
    return makeTextProtocol();
  }
  if (name == "meta") {
    return makeMetaProtocol();
  }
  if (name == "binary") {
    return makeBinaryProtocol();
  }
  return nullptr;
}

}  // namespace spool::bench
