// Output space reserved once per drain batch for a connection's small payloads.
#pragma once

#include <event2/buffer.h>

#include <cstddef>

namespace spool::libevent {

/// Copies small payloads into space reserved in an output evbuffer and
/// commits them together, so libevent's buffer callbacks run once per batch
/// instead of once per payload. Nothing may touch the evbuffer between the
/// first copy and commit() (the drain guarantees it). Loop thread only.
class OutputStage {
 public:
  /// Copies `size` bytes behind what is staged. `opened` is set when this
  /// copy opened a new reservation (the owner must commit it later).
  /// False when no space could be reserved.
  [[nodiscard]] bool copy(evbuffer* output, const void* data, std::size_t size, bool& opened) noexcept;
  /// Makes the staged bytes part of `output`. No-op when nothing is staged.
  void commit(evbuffer* output) noexcept;
  [[nodiscard]] bool open() const noexcept { return open_; }

 private:
  static constexpr std::size_t kReserveBytes = 16 << 10;

  evbuffer_iovec space_{};
  std::size_t used_ = 0;
  bool open_ = false;
};

}  // namespace spool::libevent
