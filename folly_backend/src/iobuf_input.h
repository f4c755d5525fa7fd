// InputBuffer over a connection's IOBufQueue.
#pragma once

#include <folly/io/IOBufQueue.h>

#include "spool/input_buffer.h"

namespace spool::folly_backend {

/// Lives on the stack for the duration of one onData() call.
class IoBufInput final : public InputBuffer {
 public:
  explicit IoBufInput(folly::IOBufQueue& queue) noexcept : queue_(queue) {}

  // InputBuffer
  [[nodiscard]] std::size_t size() const noexcept override { return queue_.chainLength(); }
  [[nodiscard]] std::span<const std::byte> contiguous(std::size_t n) override;
  [[nodiscard]] std::span<const std::byte> firstChunk() const noexcept override;
  [[nodiscard]] std::optional<std::size_t> find(std::string_view needle,
                                                std::size_t limit) const override;
  void copyOut(std::span<std::byte> dst) const override;
  void consume(std::size_t n) override { queue_.trimStart(n); }
  [[nodiscard]] Buffer take(std::size_t n) override;
  void wantBytes(std::size_t total) noexcept override { wanted_ = total; }

  /// What the handler asked for with wantBytes() (0: any byte).
  [[nodiscard]] std::size_t wanted() const noexcept { return wanted_; }

 private:
  folly::IOBufQueue& queue_;
  std::size_t wanted_ = 0;
};

}  // namespace spool::folly_backend
