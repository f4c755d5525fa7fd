// The response sink of a session: bytes appended straight into a spool::Buffer.
#pragma once

#include <algorithm>
#include <cstddef>
#include <string_view>

#include "spool/buffer.h"

namespace spoold {

/// Accumulates the responses of one batch of commands in a single
/// spool::Buffer, so that a batch normally costs one allocation and one send.
/// Grows by doubling (copying) when a response does not fit.
///
/// Not thread-safe: owned by whichever thread runs the session.
class Output {
 public:
  explicit Output(std::size_t initial_capacity = 16 << 10) : initial_(initial_capacity) {}

  void append(std::string_view bytes);
  void append(char c) { append(std::string_view(&c, 1)); }
  /// At least `n` writable bytes at the end; follow with commit().
  [[nodiscard]] char* reserve(std::size_t n);
  void commit(std::size_t n) noexcept { buffer_.resize(buffer_.size() + n); }
  /// Drops everything after the first `size` bytes.
  void truncate(std::size_t size) noexcept {
    if (buffer_) {
      buffer_.resize(size);
    }
    flushed_ = std::min(flushed_, size);
  }
  /// memcached writes its queued responses out here (after a get, `mn`):
  /// a later command that closes the connection cannot take them back.
  void markFlushed() noexcept { flushed_ = size(); }
  /// The bytes up to the last markFlushed() of this batch.
  [[nodiscard]] std::size_t flushed() const noexcept { return flushed_; }

  [[nodiscard]] std::size_t size() const noexcept { return buffer_.size(); }
  [[nodiscard]] bool empty() const noexcept { return buffer_.size() == 0; }
  [[nodiscard]] std::string_view view() const noexcept { return buffer_.view(); }
  /// Hands the bytes over (an empty Buffer when there are none); the next
  /// append allocates afresh.
  [[nodiscard]] spool::Buffer take() noexcept;

 private:
  std::size_t initial_;
  std::size_t flushed_ = 0;
  spool::Buffer buffer_;
};

}  // namespace spoold
