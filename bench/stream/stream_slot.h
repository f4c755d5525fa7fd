// A connection as the stream server's producers see it, whatever the mode.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "waker.h"

namespace spool::bench {

struct StreamConfig {
  std::string mode = "spool";
  std::uint16_t port = 0;
  unsigned loops = 1;
  unsigned producers = 1;
  std::size_t msg_size = 64;        ///< wire bytes per message
  std::size_t window = 1 << 20;     ///< accepted-but-unwritten bytes per connection, at most
  double max_seconds = 60;
  std::string tls_cert;             ///< PEM chain; with tls_key, listen with TLS (spool and loop modes)
  std::string tls_key;

  [[nodiscard]] bool tls() const noexcept { return !tls_cert.empty(); }

  /// Send budget that keeps the backlog <= window: a send is accepted while
  /// the backlog before it is below this (so at most window after it).
  [[nodiscard]] std::size_t highWatermark() const noexcept {
    return window > msg_size ? window - msg_size + 1 : 1;
  }
  /// Producers resume once the backlog is back at this.
  [[nodiscard]] std::size_t lowWatermark() const noexcept { return highWatermark() / 2; }
};

enum class SendOutcome : std::uint8_t { kOk, kBackpressure, kClosed };

/// One open connection. Exactly one producer owns a slot (slot index mod
/// producers), so its sequence numbers go out in order without a lock.
class StreamSlot {
 public:
  virtual ~StreamSlot() = default;
  /// Builds message `next_seq` (timestamped now) and sends it. Owning producer only.
  virtual SendOutcome send() noexcept = 0;

  /// Incremented (and the owner woken) by the loop when a refused
  /// connection is writable again.
  void announceWritable() noexcept {
    writable_epoch.fetch_add(1, std::memory_order_seq_cst);
    if (waker != nullptr) {
      waker->notify();
    }
  }

  std::uint64_t next_seq = 0;            ///< owner only
  std::atomic<std::uint32_t> writable_epoch{0};
  std::atomic<bool> closed{false};
  Waker* waker = nullptr;                ///< the owner's; set at registration
};
using StreamSlotPtr = std::shared_ptr<StreamSlot>;

}  // namespace spool::bench
