#include "frame.h"

#include <memory>

namespace spool::bench {

const std::byte* patternTable() noexcept {
  static const std::unique_ptr<std::byte[]> table = [] {
    auto t = std::make_unique<std::byte[]>(256 + kMaxMessageBytes);
    for (std::size_t i = 0; i < 256 + kMaxMessageBytes; ++i) {
      t[i] = static_cast<std::byte>(i & 0xff);
    }
    return t;
  }();
  return table.get();
}

}  // namespace spool::bench
