#include "output.h"

#include <algorithm>
#include <cstring>

namespace spoold {

char* Output::reserve(std::size_t n) {
  const std::size_t used = buffer_.size();
  if (!buffer_ || buffer_.capacity() - used < n) {
    const std::size_t capacity = std::max({initial_, used + n, buffer_.capacity() * 2});
    spool::Buffer bigger = spool::Buffer::allocate(capacity);
    if (used > 0) {
      bigger.append(buffer_.bytes());
    }
    buffer_ = std::move(bigger);
  }
  return reinterpret_cast<char*>(buffer_.mutableData()) + used;
}

void Output::append(std::string_view bytes) {
  if (bytes.empty()) {
    return;
  }
  std::memcpy(reserve(bytes.size()), bytes.data(), bytes.size());
  commit(bytes.size());
}

spool::Buffer Output::take() noexcept {
  flushed_ = 0;
  if (empty()) {
    return {};
  }
  return std::move(buffer_);
}

}  // namespace spoold
