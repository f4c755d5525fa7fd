// Read-side view handed to ConnectionHandler::onData.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string_view>

#include "spool/buffer.h"

namespace spool {

/// The bytes received on a connection and not yet consumed by its handler.
/// Valid only during the onData() call it is passed to; loop thread only.
class InputBuffer {
 public:
  virtual ~InputBuffer() = default;

  /// Bytes available.
  [[nodiscard]] virtual std::size_t size() const noexcept = 0;
  /// Makes the first `n` bytes (n <= size()) contiguous and returns them.
  /// Cheap when they already are; otherwise copies inside the buffer.
  [[nodiscard]] virtual std::span<const std::byte> contiguous(std::size_t n) = 0;
  /// The first contiguous run of bytes, without copying (may be shorter than size()).
  [[nodiscard]] virtual std::span<const std::byte> firstChunk() const noexcept = 0;
  /// Offset of the first occurrence of `needle` within the first `limit` bytes.
  [[nodiscard]] virtual std::optional<std::size_t> find(std::string_view needle,
                                                        std::size_t limit) const = 0;
  /// Copies the first dst.size() bytes (<= size()) without consuming them.
  virtual void copyOut(std::span<std::byte> dst) const = 0;
  /// Drops the first `n` bytes (n <= size()).
  virtual void consume(std::size_t n) = 0;
  /// Moves the first `n` bytes (n <= size()) into a new Buffer.
  [[nodiscard]] virtual Buffer take(std::size_t n) = 0;

  /// Asks not to be called again until at least `total` bytes are buffered
  /// (a whole frame), instead of on every segment. Applies to the next call
  /// only: each onData() starts with "call me for any byte".
  virtual void wantBytes(std::size_t total) noexcept = 0;

  /// Convenience: contiguous(n) as text.
  [[nodiscard]] std::string_view text(std::size_t n) {
    auto bytes = contiguous(n);
    return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
  }
};

}  // namespace spool
