// The unwritten bytes of one connection in the `post` and `locked` stream
// modes: a libevent server's own output buffer, built the way spool's core
// builds its own (small messages
// copied into blocks, large ones referenced where they were made), so that
// the modes differ in the handoff only.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <deque>
#include <vector>

namespace spool::bench {

/// Not thread-safe: its owner says who may touch it (the loop in `post`,
/// whoever holds the connection's lock in `locked`).
class OutputChain {
 public:
  /// One copy block: a full TLS record's worth, as spool's copy blocks.
  static constexpr std::size_t kBlockBytes = 16 << 10;

  OutputChain();
  ~OutputChain();
  OutputChain(const OutputChain&) = delete;
  OutputChain& operator=(const OutputChain&) = delete;

  /// Copies `size` bytes behind the chain, filling the last copy block
  /// first (a run of small messages leaves as one iovec).
  void copy(const std::byte* data, std::size_t size);
  /// Links `data` (from std::malloc, `size` bytes) behind the chain without
  /// copying; it is freed once written or dropped.
  void reference(std::byte* data, std::size_t size);

  /// Fills up to `max` iovecs from the front. @return how many.
  std::size_t gather(iovec* vecs, std::size_t max) const noexcept;
  /// Retires the first `n` bytes (n <= size()): the kernel took them.
  void consume(std::size_t n) noexcept;
  /// Drops everything. @return how many bytes were dropped.
  std::size_t clear() noexcept;

  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] bool empty() const noexcept { return size_ == 0; }

 private:
  struct Piece {
    std::byte* data;
    std::size_t size;  // bytes in it (a copy block may grow until the next piece)
    bool block;        // a copy block of ours (else a referenced message)
  };
  void release(const Piece& piece) noexcept;

  std::deque<Piece> pieces_;
  std::size_t head_offset_ = 0;  // bytes of the front piece already written
  std::size_t size_ = 0;         // unwritten bytes in all
  // Emptied copy blocks, kept for the next copies (a few: enough for the
  // steady state, without holding a window's worth per idle connection).
  std::vector<std::byte*> spare_;
};

}  // namespace spool::bench
