// Per-loop transport counters.
#pragma once

#include <cstdint>
#include <vector>

namespace spool {

/// A snapshot of one loop's counters. Each field is read with a relaxed load,
/// so fields may be a few events apart from one another.
struct LoopStats {
  std::uint64_t connections_open = 0;
  std::uint64_t connections_total = 0;   ///< accepted or connected since start
  std::uint64_t connections_rejected = 0;///< closed at accept: over the connection limit
  std::uint64_t accept_errors = 0;       ///< accept() failures (EMFILE, ...)
  std::uint64_t bytes_in = 0;
  std::uint64_t bytes_out = 0;
  std::uint64_t messages_drained = 0;    ///< payloads moved from the inbox to a connection
  std::uint64_t messages_direct = 0;     ///< payloads sent on the loop thread without the inbox
  std::uint64_t wakeups_requested = 0;   ///< eventfd writes by producers
  std::uint64_t wakeups_served = 0;      ///< eventfd reads by the loop
  std::uint64_t drain_batches = 0;
  /// Output written straight to the socket when a read callback or drain
  /// batch ended, without waiting for the socket to poll writable (plain
  /// TCP; TLS output always goes through the event library's write event).
  std::uint64_t eager_writes = 0;
  std::uint64_t largest_batch = 0;
  std::uint64_t backpressure_refusals = 0;
  std::uint64_t tls_handshakes = 0;
  std::uint64_t tls_failures = 0;

  LoopStats& operator+=(const LoopStats& other) noexcept;
};

/// Sums the loops' counters (largest_batch takes the maximum).
LoopStats total(const std::vector<LoopStats>& loops) noexcept;

}  // namespace spool
