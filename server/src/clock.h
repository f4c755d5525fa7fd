// Server time in memcached's terms: whole seconds relative to process start.
#pragma once

#include <atomic>
#include <cstdint>
#include <ctime>

namespace spoold {

/// Seconds since the server's epoch (memcached's rel_time_t).
using RelTime = std::uint32_t;

/// The server clock. memcached counts time relative to a start instant set
/// a little in the past, and converts client expiration times with
/// toRelative(). Thread-safe; advance() exists for tests (memcached's
/// debug-only `debugtime`), so expiry can be tested without sleeping.
class Clock {
 public:
  /// Expiration times above this many seconds are absolute unix times.
  static constexpr std::int64_t kMaxRelativeExpiry = 60 * 60 * 24 * 30;

  Clock() : started_(static_cast<std::int64_t>(std::time(nullptr)) - kStartSkew) {}

  /// Seconds since the epoch of this clock.
  [[nodiscard]] RelTime now() const noexcept {
    const std::int64_t unix_now = static_cast<std::int64_t>(std::time(nullptr)) +
                                  offset_.load(std::memory_order_relaxed);
    return static_cast<RelTime>(unix_now - started_);
  }
  /// Seconds since the server started.
  [[nodiscard]] RelTime uptime() const noexcept { return now() - static_cast<RelTime>(kStartSkew); }
  /// The unix time this clock counts from.
  [[nodiscard]] std::int64_t started() const noexcept { return started_; }
  /// Unix time of `rel`.
  [[nodiscard]] std::int64_t toUnix(RelTime rel) const noexcept { return started_ + rel; }
  /// Moves the clock forward (tests only).
  void advance(std::int64_t seconds) noexcept { offset_.fetch_add(seconds, std::memory_order_relaxed); }

  /// Converts a client expiration time: 0 never expires, negative is already
  /// expired, up to 30 days is relative, beyond is an absolute unix time.
  [[nodiscard]] RelTime toRelative(std::int64_t exptime) const noexcept {
    if (exptime == 0) {
      return 0;
    }
    if (exptime < 0) {
      return 1;  // in the past: expired at once
    }
    if (exptime > kMaxRelativeExpiry) {
      return exptime <= started_ ? 1 : static_cast<RelTime>(exptime - started_);
    }
    return static_cast<RelTime>(exptime + now());
  }

 private:
  // memcached starts its clock this far in the past so that relative time 0
  // (which means "never") is never a real instant.
  static constexpr std::int64_t kStartSkew = 62;
  const std::int64_t started_;
  std::atomic<std::int64_t> offset_{0};
};

}  // namespace spoold
