// Output space reserved once per drain batch for a connection's small payloads.
#pragma once

#include <event2/buffer.h>

#include <cstddef>
#include <cstring>

namespace spool::libevent {

/// Copies small payloads into space reserved in an output evbuffer and
/// commits them together, so libevent's buffer callbacks run once per batch
/// instead of once per payload. Nothing may touch the evbuffer between the
/// first copy and commit() (the drain guarantees it). Loop thread only.
///
/// Each reservation is two extents: what is left at the end of the output's
/// last chain, then a new chain. Asking libevent for one contiguous extent
/// instead makes it "expand" a last chain holding up to 4 KiB by copying
/// that chain's bytes into a larger one: with 1 KiB payloads, every three
/// payloads were copied twice. A payload may straddle the two extents; the
/// output is a byte stream.
class OutputStage {
 public:
  /// `record_sized`: TLS. bufferevent_openssl hands each output chain to its
  /// own SSL_write, so a chain is a TLS record and a write(2): chains of one
  /// full record (16 KiB) instead of 4 KiB cut both by four for small
  /// payloads.
  explicit OutputStage(bool record_sized) noexcept
      : reserve_bytes_(record_sized ? kRecordReserveBytes : kReserveBytes) {}

  /// Copies `size` bytes behind what is staged. `opened` is set when this
  /// copy opened a new reservation (the owner must commit it later).
  /// False when no space could be reserved (nothing is copied then).
  [[nodiscard]] bool copy(evbuffer* output, const void* data, std::size_t size, bool& opened) noexcept {
    opened = false;
    if (open_ && size <= left_) {  // the common case: it fits the current extent
      std::memcpy(next_, data, size);
      next_ += size;
      left_ -= size;
      return true;
    }
    return copySlow(output, data, size, opened);
  }
  /// Makes the staged bytes part of `output`. No-op when nothing is staged.
  void commit(evbuffer* output) noexcept;
  [[nodiscard]] bool open() const noexcept { return open_; }

 private:
  // A little under 4 KiB, so that with libevent's chain header the new chain
  // is one 4 KiB allocation, the size libevent itself grows buffers to:
  // larger chains made glibc trim and re-fault pages on every batch.
  static constexpr std::size_t kReserveBytes = 4000;
  // A TLS record's largest payload (16 KiB) less room for libevent's chain
  // header, so that the chain is one 16 KiB allocation and one record.
  static constexpr std::size_t kRecordReserveBytes = (16 << 10) - 128;

  bool copySlow(evbuffer* output, const void* data, std::size_t size, bool& opened) noexcept;
  [[nodiscard]] bool reserve(evbuffer* output, std::size_t size) noexcept;
  /// Moves on to the second extent once the first is full.
  void advance() noexcept;

  const std::size_t reserve_bytes_;
  evbuffer_iovec space_[2]{};
  int extents_ = 0;
  int current_ = 0;        // the extent being filled
  char* next_ = nullptr;   // where the next byte goes in it
  std::size_t left_ = 0;   // bytes left in it
  bool open_ = false;
};

}  // namespace spool::libevent
