// Per-loop transport counters.
#pragma once

#include <cstdint>
#include <vector>

namespace spool {

/// Every loop counter, declared once: X(name, combine), where `combine`
/// (sum or max) says how total() merges the loops. LoopStats, the backends'
/// live counters and spoold's `stats` output are all generated from it.
#define SPOOL_LOOP_STATS(X)                                                                     \
  X(connections_open, sum)      /* open now */                                                  \
  X(connections_total, sum)     /* accepted or connected since start */                         \
  X(connections_rejected, sum)  /* closed at accept: over the connection limit */               \
  X(accept_errors, sum)         /* accept() failures (EMFILE, ...) */                           \
  X(bytes_in, sum)                                                                              \
  X(bytes_out, sum)                                                                             \
  X(messages_drained, sum)      /* payloads moved from the inbox to a connection */             \
  X(messages_direct, sum)       /* payloads sent on the loop thread without the inbox */        \
  X(wakeups_requested, sum)     /* doorbell (eventfd) writes by producers */                    \
  X(wakeups_served, sum)        /* doorbell reads by the loop */                                \
  X(drain_batches, sum)                                                                         \
  X(eager_writes, sum)          /* output written when a write scope ended (a read, a drain   */ \
                                /* batch, deferred work), without polling for writable        */ \
  X(largest_batch, max)                                                                         \
  X(backpressure_refusals, sum)                                                                 \
  X(read_pauses_backlog, sum)   /* reads held: the send backlog reached its high watermark */   \
  X(tls_handshakes, sum)                                                                        \
  X(tls_failures, sum)                                                                          \
  X(tls_handshake_timeouts, sum)

/// A snapshot of one loop's counters (see SPOOL_LOOP_STATS for each field).
/// Each field is read with a relaxed load, so fields may be a few events
/// apart from one another.
struct LoopStats {
#define SPOOL_LOOP_STATS_FIELD(name, combine) std::uint64_t name = 0;
  SPOOL_LOOP_STATS(SPOOL_LOOP_STATS_FIELD)
#undef SPOOL_LOOP_STATS_FIELD

  LoopStats& operator+=(const LoopStats& other) noexcept;
};

/// Sums the loops' counters (largest_batch takes the maximum).
LoopStats total(const std::vector<LoopStats>& loops) noexcept;

}  // namespace spool
