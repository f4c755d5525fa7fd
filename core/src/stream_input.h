// A connection's received bytes that its handler has not consumed yet.
#pragma once

#include <cstddef>
#include <memory>
#include <span>

#include "spool/input_buffer.h"

namespace spool::core {

/// Where a connection's reads land, and the InputBuffer its handler sees.
/// Loop thread only.
///
/// A read goes into the loop's scratch buffer (LoopCore::readScratch())
/// whenever the connection holds little or nothing: the common request is
/// read, handled and consumed there without the connection owning any read
/// memory. What the handler leaves unconsumed is copied into a buffer of the
/// connection's own (settle()), which is freed as soon as it is empty again:
/// an idle connection holds no input memory (memcached's read-buffer
/// release). A connection holding a large part of a frame reads straight
/// into its own buffer, grown to the frame's wanted size, so a large value
/// is not copied back and forth once per read.
///
/// The bytes are contiguous: contiguous() never copies.
class StreamInput final : public InputBuffer {
 public:
  StreamInput() noexcept = default;
  StreamInput(const StreamInput&) = delete;
  StreamInput& operator=(const StreamInput&) = delete;

  /// Room for the next read, at most `max` bytes (max > 0), in `scratch`
  /// or in the connection's own buffer. Empty when memory ran out.
  [[nodiscard]] std::span<std::byte> prepare(std::span<std::byte> scratch,
                                             std::size_t max) noexcept;
  /// `n` bytes were read into the span prepare() returned.
  void commit(std::size_t n) noexcept { end_ += n; }
  /// Keeps what is left in the connection's own buffer (out of the scratch
  /// buffer, which the next connection's read reuses), and frees that buffer
  /// when nothing is left. False when memory ran out (the bytes are lost).
  [[nodiscard]] bool settle() noexcept;
  /// Drops everything and frees the connection's buffer.
  void release() noexcept;

  /// What the handler asked for with wantBytes() (0: any byte). Each call
  /// of the handler starts at 0 again (resetWanted()).
  [[nodiscard]] std::size_t wanted() const noexcept { return wanted_; }
  void resetWanted() noexcept { wanted_ = 0; }
  /// Bytes of its own the connection holds (capacity, for tests).
  [[nodiscard]] std::size_t ownedCapacity() const noexcept { return own_ ? own_capacity_ : 0; }

  // InputBuffer
  [[nodiscard]] std::size_t size() const noexcept override { return end_ - begin_; }
  [[nodiscard]] std::span<const std::byte> contiguous(std::size_t n) override {
    return {data_ + begin_, n};
  }
  [[nodiscard]] std::span<const std::byte> firstChunk() const noexcept override {
    return {data_ + begin_, size()};
  }
  [[nodiscard]] std::optional<std::size_t> find(std::string_view needle,
                                                std::size_t limit) const override;
  void copyOut(std::span<std::byte> dst) const override;
  void consume(std::size_t n) override;
  [[nodiscard]] Buffer take(std::size_t n) override;
  void wantBytes(std::size_t total) noexcept override { wanted_ = total; }

 private:
  // What a read into the connection's own buffer asks for at least.
  static constexpr std::size_t kOwnReadBytes = 16 << 10;
  // Leftovers are kept in buffers of whole granules, and a buffer up to
  // kKeepOwnBytes (or 4x what is held) is reused rather than reallocated.
  static constexpr std::size_t kOwnGranule = 1 << 10;
  static constexpr std::size_t kKeepOwnBytes = 64 << 10;

  /// Makes the own buffer hold size() plus at least `room` bytes at its end.
  [[nodiscard]] bool reserveOwn(std::size_t room) noexcept;

  std::unique_ptr<std::byte[]> own_;
  std::size_t own_capacity_ = 0;
  std::byte* data_ = nullptr;  // own_, or the scratch buffer during a read
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
  std::size_t wanted_ = 0;
  bool in_scratch_ = false;
};

}  // namespace spool::core
