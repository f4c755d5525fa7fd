// The stuck-queue and idle checks of one connection, as pure logic.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

#include "spool/transport.h"

namespace spool::core {

/// Decides, tick by tick, whether a connection's send queue is stuck or the
/// connection idle. No I/O and no clock of its own: the owner samples its
/// counters on a timer (period()) and acts on the verdict. Loop thread only.
class ConnectionWatchdog {
 public:
  using Clock = std::chrono::steady_clock;
  using Millis = std::chrono::milliseconds;

  struct Sample {
    std::uint64_t bytes_sent = 0;
    std::uint64_t bytes_received = 0;
    std::size_t backlog = 0;
    bool handshaking = false;  ///< a TLS handshake is still under way
  };
  enum class Verdict { kFine, kStuck, kIdle, kHandshakeTimeout };

  /// `tls`: the connection has a handshake to time (handshake_timeout
  /// applies); `now`: when it was accepted or started connecting.
  ConnectionWatchdog(const ConnectionOptions& options, bool tls, Clock::time_point now) noexcept;

  /// False when neither check is configured: the owner needs no timer.
  [[nodiscard]] bool enabled() const noexcept { return period_.count() > 0; }
  /// How often to sample: a quarter of the shorter limit (so a limit is
  /// noticed within 25% of it), between 5 ms and 1 s.
  [[nodiscard]] Millis period() const noexcept { return period_; }

  /// Takes one sample. kHandshakeTimeout: still handshaking
  /// handshake_timeout after the start; kStuck: bytes are queued and none was
  /// written for send_stuck_timeout; kIdle: nothing sent or received for
  /// idle_timeout. `elapsed` says for how long.
  Verdict check(const Sample& sample, Clock::time_point now, Millis& elapsed) noexcept;

 private:
  const Millis stuck_limit_;
  const Millis idle_limit_;
  const Millis handshake_limit_;  // zero without TLS
  const Clock::time_point start_;
  Millis period_{0};
  Sample last_{};
  Clock::time_point last_send_progress_;
  Clock::time_point last_activity_;
};

}  // namespace spool::core
