#include "output_stage.h"

#include <algorithm>
#include <new>
#include <utility>

namespace spool::libevent {
namespace {

detail::BufferBlock* newRecordBlock() noexcept {
  try {
    return Buffer::allocate(OutputStage::kRecordBlockBytes).release();
  } catch (const std::bad_alloc&) {
    return nullptr;
  }
}

}  // namespace

void destroyReferencedBlock(const void*, std::size_t, void* block) {
  detail::BufferBlock::destroy(static_cast<detail::BufferBlock*>(block));
}

OutputStage::~OutputStage() {
  if (block_ != nullptr) {
    detail::BufferBlock::destroy(block_);
  }
}

bool OutputStage::commit(evbuffer* output) noexcept {
  if (!open_) {
    return true;
  }
  if (record_sized_) {
    return commitBlock(output);
  }
  // Extents before the current one are full; after it, untouched.
  space_[current_].iov_len -= left_;
  for (int i = current_ + 1; i < extents_; ++i) {
    space_[i].iov_len = 0;
  }
  const bool ok = evbuffer_commit_space(output, space_, extents_) == 0;
  extents_ = 0;
  left_ = 0;
  open_ = false;
  return ok;
}

// Plain TCP ----------------------------------------------------------------

bool OutputStage::reserve(evbuffer* output, std::size_t size) noexcept {
  const auto want = static_cast<ev_ssize_t>(std::max(kReserveBytes, size));
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
    if (!commit(output) || !reserve(output, size)) {
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

// TLS ----------------------------------------------------------------------

bool OutputStage::copyRecordSlow(evbuffer* output, const void* data, std::size_t size,
                                 bool& opened) noexcept {
  if (size > kRecordBlockBytes) {
    // Larger than a block (only with a copy_threshold above it): libevent
    // copies it, behind what is staged.
    return commit(output) && evbuffer_add(output, data, size) == 0;
  }
  // The next block first, so that a failure leaves nothing of this payload staged.
  detail::BufferBlock* fresh = newRecordBlock();
  if (fresh == nullptr) {
    return false;
  }
  const auto* from = static_cast<const char*>(data);
  if (open_) {
    // Fill what the current block has left; the rest starts the next block.
    std::memcpy(next_, from, left_);
    from += left_;
    size -= left_;
    next_ += left_;
    left_ = 0;
    if (!commitBlock(output)) {
      detail::BufferBlock::destroy(fresh);
      return false;
    }
  } else {
    opened = true;
  }
  block_ = fresh;
  next_ = reinterpret_cast<char*>(fresh->data);
  left_ = kRecordBlockBytes;
  open_ = true;
  std::memcpy(next_, from, size);
  next_ += size;
  left_ -= size;
  return true;
}

bool OutputStage::commitBlock(evbuffer* output) noexcept {
  detail::BufferBlock* block = std::exchange(block_, nullptr);
  const std::size_t used = kRecordBlockBytes - left_;
  open_ = false;
  left_ = 0;
  next_ = nullptr;
  if (used == 0) {
    detail::BufferBlock::destroy(block);
    return true;
  }
  if (used < kRecordBlockBytes / 2) {
    const bool ok = evbuffer_add(output, block->data, used) == 0;
    detail::BufferBlock::destroy(block);
    return ok;
  }
  block->size = used;
  if (evbuffer_add_reference(output, block->data, used, &destroyReferencedBlock, block) != 0) {
    detail::BufferBlock::destroy(block);
    return false;
  }
  return true;
}

}  // namespace spool::libevent
