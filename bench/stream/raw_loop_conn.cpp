#include "raw_loop_conn.h"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

#include "frame.h"
#include "usage.h"

namespace spool::bench {
namespace {

// Plain TCP: a batch is encoded while the buffer holds less than this (and
// less than the window). Large enough that a send() moves a lot per call,
// small enough to stay in the cache between encoding and the kernel's copy.
constexpr std::size_t kRawBatchBytes = 256 << 10;
// Bytes one connection may write per readiness event before the loop turns
// to the others (it comes back on the next turn: the socket is still
// writable and its write event still added).
constexpr std::size_t kShareBytes = 1 << 20;

}  // namespace

RawConn::RawConn(event_base* base, int fd, SlotRegistry& registry, EvLoopCounters& counters,
                 const StreamConfig& config)
    : EvConn(base, fd, registry, counters),
      size_(config.msg_size),
      // At most a window's bytes wait in user space: a batch grows while
      // under the high watermark, so it ends at most msg_size - 1 past it.
      batch_(std::min(kRawBatchBytes, config.highWatermark())),
      buffer_(std::make_unique<std::byte[]>(batch_ + size_)) {}

void RawConn::fill() noexcept {
  head_ = 0;
  tail_ = 0;
  do {
    encodeMessage(buffer_.get() + tail_, size_, nowNs(), next_seq++);
    tail_ += size_;
    ++counters_.frames;
  } while (tail_ < batch_);
}

void RawConn::pump() noexcept {
  std::size_t share = kShareBytes;
  for (;;) {
    if (head_ == tail_) {
      if (share == 0) {
        watch(true);  // still writable: back on the next turn, after the others
        return;
      }
      fill();
    }
    const ssize_t n = ::send(fd(), buffer_.get() + head_, tail_ - head_, MSG_NOSIGNAL | MSG_DONTWAIT);
    ++counters_.write_calls;
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        ++counters_.write_refusals;
        watch(true);
        return;
      }
      close();
      return;
    }
    const auto written = static_cast<std::size_t>(n);
    head_ += written;
    counters_.bytes_out += written;
    share -= std::min(share, written);
    if (head_ < tail_) {
      ++counters_.write_refusals;  // the kernel is full: wait for room
      watch(true);
      return;
    }
  }
}

}  // namespace spool::bench
