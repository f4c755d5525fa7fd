#include "output_queue.h"

#include <algorithm>
#include <cassert>
#include <cstring>
#include <utility>

namespace spool::core {

void OutputQueue::link(detail::BufferBlock* block) noexcept {
  next(block) = nullptr;
  if (tail_ != nullptr) {
    next(tail_) = block;
  } else {
    head_ = block;
  }
  tail_ = block;
}

bool OutputQueue::append(detail::BufferBlock* block, std::size_t copy_threshold) noexcept {
  const std::size_t size = block->size;
  if (size == 0) {
    detail::BufferBlock::destroy(block);
    return true;
  }
  if (size <= copy_threshold) {
    const bool ok = copy(block->data, size);
    detail::BufferBlock::destroy(block);
    return ok;
  }
  link(block);
  tail_copies_ = false;
  size_ += size;
  return true;
}

bool OutputQueue::copy(const void* data, std::size_t size) noexcept {
  const auto* bytes = static_cast<const std::byte*>(data);
  while (size > 0) {
    if (!tail_copies_ || tail_->size == tail_->capacity) {
      detail::BufferBlock* block = nullptr;
      try {
        block = Buffer::allocate(kCopyBlockBytes).release();
      } catch (const std::bad_alloc&) {
        return false;
      }
      link(block);
      tail_copies_ = true;
    }
    const std::size_t n = std::min(size, tail_->capacity - tail_->size);
    std::memcpy(tail_->data + tail_->size, bytes, n);
    tail_->size += n;
    size_ += n;
    bytes += n;
    size -= n;
  }
  return true;
}

std::size_t OutputQueue::gather(iovec* vecs, std::size_t max) const noexcept {
  std::size_t count = 0;
  std::size_t skip = head_offset_;
  for (detail::BufferBlock* block = head_; block != nullptr && count < max; block = next(block)) {
    vecs[count].iov_base = block->data + skip;
    vecs[count].iov_len = block->size - skip;
    skip = 0;
    ++count;
  }
  return count;
}

std::pair<const std::byte*, std::size_t> OutputQueue::front() const noexcept {
  if (head_ == nullptr) {
    return {nullptr, 0};
  }
  return {head_->data + head_offset_, head_->size - head_offset_};
}

void OutputQueue::consume(std::size_t n) noexcept {
  assert(n <= size_);
  size_ -= n;
  while (n > 0) {
    const std::size_t left = head_->size - head_offset_;
    if (n < left) {
      head_offset_ += n;
      return;
    }
    n -= left;
    detail::BufferBlock* done = std::exchange(head_, next(head_));
    head_offset_ = 0;
    if (head_ == nullptr) {
      tail_ = nullptr;
      tail_copies_ = false;
    }
    detail::BufferBlock::destroy(done);
  }
}

std::size_t OutputQueue::clear() noexcept {
  const std::size_t dropped = size_;
  while (head_ != nullptr) {
    detail::BufferBlock::destroy(std::exchange(head_, next(head_)));
  }
  tail_ = nullptr;
  tail_copies_ = false;
  head_offset_ = 0;
  size_ = 0;
  return dropped;
}

}  // namespace spool::core
