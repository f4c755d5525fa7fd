// A FIFO of input chunks that allocates nothing until the first push.
#pragma once

#include <cstddef>
#include <vector>

#include "spool/buffer.h"

namespace spoold {

/// What RequestPipeline queues between the loop and a worker. std::deque
/// allocates a map and a 512-byte node as soon as it is constructed: on an
/// idle connection that was most of the pipeline's memory. This is a vector
/// with a read index, emptied (keeping its capacity) whenever the reader
/// catches up. Not thread-safe: the pipeline's mutex guards it.
class BufferQueue {
 public:
  [[nodiscard]] bool empty() const noexcept { return head_ == items_.size(); }
  void push(spool::Buffer&& chunk) { items_.push_back(std::move(chunk)); }
  /// Removes and returns the oldest chunk. Not on an empty queue.
  spool::Buffer pop() {
    spool::Buffer chunk = std::move(items_[head_++]);
    if (empty()) {
      clear();
    } else if (head_ >= kCompactAfter && head_ * 2 >= items_.size()) {
      // A reader that never quite catches up: drop the spent slots, so the
      // vector stays within twice what is queued (amortised O(1) per pop).
      items_.erase(items_.begin(), items_.begin() + static_cast<std::ptrdiff_t>(head_));
      head_ = 0;
    }
    return chunk;
  }
  void clear() noexcept {
    items_.clear();
    head_ = 0;
  }

 private:
  static constexpr std::size_t kCompactAfter = 32;
  std::vector<spool::Buffer> items_;
  std::size_t head_ = 0;
};

}  // namespace spoold
