// InputBuffer over a bufferevent's input evbuffer.
#pragma once

#include <event2/buffer.h>

#include "spool/input_buffer.h"

namespace spool::libevent {

/// Lives on the stack for the duration of one onData() call.
class EvbufferInput final : public InputBuffer {
 public:
  explicit EvbufferInput(evbuffer* buffer) noexcept : buffer_(buffer) {}

  // InputBuffer
  [[nodiscard]] std::size_t size() const noexcept override;
  [[nodiscard]] std::span<const std::byte> contiguous(std::size_t n) override;
  [[nodiscard]] std::span<const std::byte> firstChunk() const noexcept override;
  [[nodiscard]] std::optional<std::size_t> find(std::string_view needle,
                                                std::size_t limit) const override;
  void copyOut(std::span<std::byte> dst) const override;
  void consume(std::size_t n) override;
  [[nodiscard]] Buffer take(std::size_t n) override;
  void wantBytes(std::size_t total) noexcept override { wanted_ = total; }

  /// What the handler asked for with wantBytes() (0: any byte).
  [[nodiscard]] std::size_t wanted() const noexcept { return wanted_; }

 private:
  evbuffer* buffer_;
  std::size_t wanted_ = 0;
};

}  // namespace spool::libevent
