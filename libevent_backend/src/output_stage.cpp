#include "output_stage.h"

#include <algorithm>

namespace spool::libevent {

bool OutputStage::reserve(evbuffer* output, std::size_t size) noexcept {
  const auto want = static_cast<ev_ssize_t>(std::max(reserve_bytes_, size));
  const int n = evbuffer_reserve_space(output, want, space_, 2);
  if (n < 1) {
    return false;
  }
  extents_ = n;
  current_ = 0;
  next_ = static_cast<char*>(space_[0].iov_base);
  left_ = space_[0].iov_len;
  open_ = true;
  return true;
}

void OutputStage::advance() noexcept {
  if (left_ == 0 && current_ + 1 < extents_) {
    ++current_;
    next_ = static_cast<char*>(space_[current_].iov_base);
    left_ = space_[current_].iov_len;
  }
}

bool OutputStage::copySlow(evbuffer* output, const void* data, std::size_t size, bool& opened) noexcept {
  const std::size_t spare = current_ + 1 < extents_ ? space_[current_ + 1].iov_len : 0;
  if (!open_ || size > left_ + spare) {
    commit(output);
    if (!reserve(output, size)) {
      return false;
    }
    opened = true;
  }
  // Straddles the end of the first extent into the second.
  const auto* from = static_cast<const char*>(data);
  while (size > 0) {
    advance();
    const std::size_t n = std::min(size, left_);
    std::memcpy(next_, from, n);
    next_ += n;
    left_ -= n;
    from += n;
    size -= n;
  }
  advance();
  return true;
}

void OutputStage::commit(evbuffer* output) noexcept {
  if (!open_) {
    return;
  }
  // Extents before the current one are full; after it, untouched.
  space_[current_].iov_len -= left_;
  for (int i = current_ + 1; i < extents_; ++i) {
    space_[i].iov_len = 0;
  }
  evbuffer_commit_space(output, space_, extents_);
  extents_ = 0;
  left_ = 0;
  open_ = false;
}

}  // namespace spool::libevent
