// The scenario the producer proofs share: producer threads sending over a
// million small messages to many connections, honouring backpressure.
#pragma once

#include <cstdint>
#include <functional>

namespace spool::test {

struct ProducerScenario {
  bool tls = false;
  int per_producer = 300'000;  ///< messages each of the 4 producers sends
  /// Run on each producer thread just before its first send and just after
  /// its last (e.g. to mark the thread, or to read its lock count).
  std::function<void(int producer)> on_start;
  std::function<void(int producer)> on_end;
  /// Run on the producer thread just before each send() call (optional).
  std::function<void()> before_send;
};

struct ProducerScenarioResult {
  std::uint64_t messages = 0;
  std::uint64_t refusals = 0;  ///< sends refused with kBackpressure (each waited for onWritable)
  std::uint64_t wakeups = 0;  ///< doorbell writes the loops counted while producers ran
  std::uint64_t wakeups_served = 0;  ///< doorbell reads by the loops, meanwhile
  std::uint64_t drain_batches = 0;   ///< inbox drains that moved something, meanwhile
};

/// 4 producers send `per_producer` 32-byte messages each over 16 connections
/// of a 2-loop transport (plain or TLS), waiting for onWritable when
/// refused, until every byte arrived. The send budget is small (16 KiB), so
/// producers are refused and depend on onWritable: a refusal that onWritable
/// does not follow within kWaitLimit fails the run, and so does a run
/// without any refusal. `before_sending` runs on the test
/// thread once every connection is up (e.g. to reset counters).
ProducerScenarioResult runProducerScenario(const ProducerScenario& scenario,
                                           const std::function<void()>& before_sending = {});

}  // namespace spool::test
