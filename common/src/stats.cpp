#include "spool/stats.h"

#include <algorithm>

namespace spool {

LoopStats& LoopStats::operator+=(const LoopStats& o) noexcept {
  connections_open += o.connections_open;
  connections_total += o.connections_total;
  connections_rejected += o.connections_rejected;
  accept_errors += o.accept_errors;
  bytes_in += o.bytes_in;
  bytes_out += o.bytes_out;
  messages_drained += o.messages_drained;
  messages_direct += o.messages_direct;
  wakeups_requested += o.wakeups_requested;
  wakeups_served += o.wakeups_served;
  drain_batches += o.drain_batches;
  eager_writes += o.eager_writes;
  largest_batch = std::max(largest_batch, o.largest_batch);
  backpressure_refusals += o.backpressure_refusals;
  tls_handshakes += o.tls_handshakes;
  tls_failures += o.tls_failures;
  return *this;
}

LoopStats total(const std::vector<LoopStats>& loops) noexcept {
  LoopStats sum;
  for (const auto& loop : loops) {
    sum += loop;
  }
  return sum;
}

}  // namespace spool
