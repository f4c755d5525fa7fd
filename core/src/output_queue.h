// A connection's unwritten bytes, in order: small payloads coalesced into
// copy blocks, large ones referenced where the sender put them.
#pragma once

#include <sys/uio.h>

#include <cstddef>

#include "spool/buffer.h"

namespace spool::core {

/// A byte stream kept as a singly linked list of BufferBlocks (linked
/// through their `target` field, free once a block has left the inbox).
/// Loop thread only. An empty queue holds no memory at all.
///
/// append() copies payloads up to `copy_threshold` into the tail's copy
/// block (a cache block of kCopyBlockBytes), so a batch of small replies
/// leaves as one iovec; larger payloads join the list as they are, and are
/// released once written. gather() fills an iovec array from the front,
/// consume() retires what the kernel took.
class OutputQueue {
 public:
  /// What one copy block holds: a 16 KiB cache block less its header, one
  /// full TLS record of plaintext.
  static constexpr std::size_t kCopyBlockBytes = (16 << 10) - 128;

  OutputQueue() noexcept = default;
  ~OutputQueue() { clear(); }
  OutputQueue(const OutputQueue&) = delete;
  OutputQueue& operator=(const OutputQueue&) = delete;

  /// Takes `block` (a payload that left the inbox): copied when at most
  /// `copy_threshold` bytes, else linked. False when memory ran out (the
  /// block is destroyed either way once its bytes are no longer needed).
  [[nodiscard]] bool append(detail::BufferBlock* block, std::size_t copy_threshold) noexcept;
  /// Copies `size` bytes behind the queue. False when memory ran out.
  [[nodiscard]] bool copy(const void* data, std::size_t size) noexcept;

  /// Fills up to `max` iovecs from the front. @return how many.
  std::size_t gather(iovec* vecs, std::size_t max) const noexcept;
  /// The first contiguous run of unwritten bytes.
  [[nodiscard]] std::pair<const std::byte*, std::size_t> front() const noexcept;
  /// Drops the first `n` bytes (n <= size()), releasing blocks done with.
  void consume(std::size_t n) noexcept;
  /// Releases everything. @return how many bytes were dropped.
  std::size_t clear() noexcept;

  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] bool empty() const noexcept { return size_ == 0; }

 private:
  static detail::BufferBlock*& next(detail::BufferBlock* block) noexcept {
    return reinterpret_cast<detail::BufferBlock*&>(block->target);
  }
  void link(detail::BufferBlock* block) noexcept;

  detail::BufferBlock* head_ = nullptr;
  detail::BufferBlock* tail_ = nullptr;
  std::size_t head_offset_ = 0;  // bytes of head_ already written
  std::size_t size_ = 0;         // unwritten bytes in all
  bool tail_copies_ = false;     // tail_ is a copy block of ours (more may go in)
};

}  // namespace spool::core
