// One handoff measurement: P producers, L loops, one strategy.
#pragma once

#include <cstdint>
#include <string>

namespace spool::bench {

struct HandoffConfig {
  std::string strategy = "spool";
  unsigned producers = 1;
  unsigned loops = 1;
  double duration_s = 1.0;          ///< producers stop after this long...
  std::uint64_t max_messages = 0;   ///< ...or after this many each (0: no limit)
  unsigned window = 4096;           ///< messages in flight per (producer, loop) channel, a power of two
  unsigned sample_every = 16;       ///< every Nth send is timed and its message timestamped
};

struct HandoffResult {
  std::uint64_t messages = 0;
  double seconds = 0;
  double messages_per_s = 0;
  // Producer side, sampled sends (the call only, not waits for the window).
  double send_ns_mean = 0;
  std::uint64_t send_p50_ns = 0, send_p99_ns = 0, send_p999_ns = 0, send_max_ns = 0;
  // Producer timestamp -> loop reads it, sampled messages.
  std::uint64_t latency_p50_ns = 0, latency_p99_ns = 0, latency_p999_ns = 0, latency_max_ns = 0;
  double write_syscalls_per_msg = 0;   ///< eventfd writes (spool's or libevent's own)
  double voluntary_switches_per_msg = 0;
  /// Locks producers took on the loops' libevent objects; -1 where the
  /// strategy's bases have no locks to count (see countsProducerLocks()).
  std::int64_t producer_libevent_locks = 0;
  double window_full_per_msg = 0;      ///< sends that found their channel's window full
  std::uint64_t pending_rearms = 0;    ///< inbox drains stopped by a half-finished push
  bool ok = true;                      ///< every message arrived exactly once, in time
  std::string error;
};

/// Runs it. Libevent threading must already be enabled (counting locks).
HandoffResult runHandoff(const HandoffConfig& config);

}  // namespace spool::bench
