// Output space reserved once per drain batch for a connection's small payloads.
#pragma once

#include <event2/buffer.h>

#include <cstddef>
#include <cstring>

#include "spool/buffer.h"

namespace spool::libevent {

/// Copies small payloads behind a connection's output and commits them
/// together, so libevent's buffer callbacks run once per batch instead of
/// once per payload. Nothing may touch the evbuffer between the first copy
/// and commit() (the drain guarantees it). Loop thread only.
///
/// Plain TCP: the payloads go into space reserved in the evbuffer, two
/// extents per reservation: what is left at the end of the output's last
/// chain, then a new chain. Asking libevent for one contiguous extent instead
/// makes it "expand" a last chain holding up to 4 KiB by copying that chain's
/// bytes into a larger one: with 1 KiB payloads, every three payloads were
/// copied twice. A payload may straddle the two extents; the output is a byte
/// stream.
///
/// TLS (`record_sized`): bufferevent_openssl hands each output chain to its
/// own SSL_write, so a chain is a group of records. The payloads go into
/// 32 KiB blocks from the loop thread's buffer-block cache, which the output
/// then references (one SSL_write of two full records per block). libevent's
/// own chains of that size were malloc'd and freed per record: glibc trimmed
/// the loop's arena and every new chain was copied into freshly faulted pages
/// (a third of the loop thread's time at 16 KiB, docs/benchmarks.md). Memory:
/// a block is referenced only when at least half full; a batch's smaller tail
/// is copied into the evbuffer and its block reused at once, so referenced
/// blocks never hold more than twice the bytes they carry.
/// The cleanup for a BufferBlock added to an evbuffer with
/// evbuffer_add_reference (`block` is the context): frees it once libevent
/// has written the bytes or dropped the buffer.
void destroyReferencedBlock(const void* data, std::size_t size, void* block);

class OutputStage {
 public:
  explicit OutputStage(bool record_sized) noexcept : record_sized_(record_sized) {}
  ~OutputStage();
  OutputStage(const OutputStage&) = delete;
  OutputStage& operator=(const OutputStage&) = delete;

  /// Copies `size` bytes behind what is staged. `opened` is set when this
  /// copy opened a new stage (the owner must commit it later).
  /// False when no space could be had (nothing of this payload is staged then).
  [[nodiscard]] bool copy(evbuffer* output, const void* data, std::size_t size, bool& opened) noexcept {
    opened = false;
    if (open_ && size <= left_) {  // the common case: it fits the current extent or block
      std::memcpy(next_, data, size);
      next_ += size;
      left_ -= size;
      return true;
    }
    return record_sized_ ? copyRecordSlow(output, data, size, opened) : copySlow(output, data, size, opened);
  }
  /// Makes the staged bytes part of `output`. No-op (true) when nothing is
  /// staged; false when libevent could not take them (out of memory).
  [[nodiscard]] bool commit(evbuffer* output) noexcept;
  [[nodiscard]] bool open() const noexcept { return open_; }

  /// TLS blocks: the bytes one holds (it is a 32 KiB cache block).
  static constexpr std::size_t kRecordBlockBytes = (32 << 10) - 256;

 private:
  // A little under 4 KiB, so that with libevent's chain header the new chain
  // is one 4 KiB allocation, the size libevent itself grows buffers to:
  // larger chains made glibc trim and re-fault pages on every batch.
  static constexpr std::size_t kReserveBytes = 4000;

  bool copySlow(evbuffer* output, const void* data, std::size_t size, bool& opened) noexcept;
  [[nodiscard]] bool reserve(evbuffer* output, std::size_t size) noexcept;
  /// Moves on to the second extent once the first is full.
  void advance() noexcept;

  bool copyRecordSlow(evbuffer* output, const void* data, std::size_t size, bool& opened) noexcept;
  /// Hands the filled part of block_ to `output` (by reference, or copied
  /// when under half full) and closes the stage.
  [[nodiscard]] bool commitBlock(evbuffer* output) noexcept;

  const bool record_sized_;
  // Plain TCP: the reserved extents.
  evbuffer_iovec space_[2]{};
  int extents_ = 0;
  int current_ = 0;  // the extent being filled
  // TLS: the block being filled.
  detail::BufferBlock* block_ = nullptr;
  char* next_ = nullptr;  // where the next byte goes
  std::size_t left_ = 0;  // bytes left in the extent or block
  bool open_ = false;
};

}  // namespace spool::libevent
