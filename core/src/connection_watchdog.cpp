#include "connection_watchdog.h"

#include <algorithm>

namespace spool::core {

ConnectionWatchdog::ConnectionWatchdog(const ConnectionOptions& options, bool tls, Clock::time_point now) noexcept
    : stuck_limit_(options.send_stuck_timeout),
      idle_limit_(options.idle_timeout),
      handshake_limit_(tls ? options.handshake_timeout : Millis(0)),
      start_(now),
      last_send_progress_(now),
      last_activity_(now) {
  Millis shortest{0};
  for (const Millis limit : {stuck_limit_, idle_limit_, handshake_limit_}) {
    if (limit.count() > 0 && (shortest.count() == 0 || limit < shortest)) {
      shortest = limit;
    }
  }
  if (shortest.count() > 0) {
    period_ = std::clamp(shortest / 4, Millis(5), Millis(1000));
  }
}

ConnectionWatchdog::Verdict ConnectionWatchdog::check(const Sample& sample, Clock::time_point now,
                                                      Millis& elapsed) noexcept {
  const bool wrote = sample.bytes_sent != last_.bytes_sent;
  if (wrote || sample.backlog == 0) {
    last_send_progress_ = now;  // an empty queue cannot be stuck
  }
  if (wrote || sample.bytes_received != last_.bytes_received) {
    last_activity_ = now;
  }
  last_ = sample;
  if (sample.handshaking && handshake_limit_.count() > 0 && now - start_ >= handshake_limit_) {
    elapsed = std::chrono::duration_cast<Millis>(now - start_);
    return Verdict::kHandshakeTimeout;
  }
  const auto stuck_for = std::chrono::duration_cast<Millis>(now - last_send_progress_);
  const auto idle_for = std::chrono::duration_cast<Millis>(now - last_activity_);
  if (stuck_limit_.count() > 0 && stuck_for >= stuck_limit_) {
    elapsed = stuck_for;
    return Verdict::kStuck;
  }
  if (idle_limit_.count() > 0 && idle_for >= idle_limit_) {
    elapsed = idle_for;
    return Verdict::kIdle;
  }
  return Verdict::kFine;
}

}  // namespace spool::core
