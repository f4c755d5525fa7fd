// The `raw-loop` mode's connections: the upper bound spool's stream is held
// to. No producers and no handoff: the loop thread encodes each frame
// straight into the buffer it writes from, right before writing it.
#pragma once

#include <memory>

#include "ev_conn.h"
#include "stream_slot.h"

namespace spool::bench {

/// Plain TCP. On every writable event: encode a batch of frames (at most
/// the window, at most kRawBatchBytes) into one contiguous buffer, send()
/// it, and again, until the kernel refuses or the connection has had its
/// share of this loop turn; the unsent rest of a batch goes first next time.
/// The bytes are written while still in the cache that encoded them, and
/// never more than a batch waits in user space.
class RawConn final : public EvConn {
 public:
  RawConn(event_base* base, int fd, SlotRegistry& registry, EvLoopCounters& counters,
          const StreamConfig& config);

  void begin() noexcept override { pump(); }

 private:
  void onWritable() noexcept override { pump(); }
  void pump() noexcept;
  void fill() noexcept;

  const std::size_t size_;   // bytes per frame
  const std::size_t batch_;  // a batch is encoded while the buffer holds less than this
  std::unique_ptr<std::byte[]> buffer_;
  std::size_t head_ = 0;  // sent up to here
  std::size_t tail_ = 0;  // encoded up to here
};

}  // namespace spool::bench
