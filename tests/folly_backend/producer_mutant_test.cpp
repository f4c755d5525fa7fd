// The folly half of the proof that producers never run event-library code:
// the conformance suite's producer_syscalls_test shows zero socket and poll
// calls and exactly one write per counted wake-up on this backend too. Here
// the same scenario runs with the test-only mutant armed, which makes every
// off-loop send also call folly's own EventBase::runInEventBaseThread from
// the producer; the same counters must then see producer writes the loops
// never asked for.
#include <catch2/catch.hpp>

#include "folly_testing.h"
#include "producer_syscalls.h"
#include "test_support.h"

using namespace spool::test;

TEST_CASE("the producer proof fails when producers use folly's own handoff", "[producers][concurrency][folly]") {
  constexpr int kPerProducer = 20'000;
  spool::folly_backend::testing::armProducerMutant(true);
  const ProducerRunResult run = runProducers(/*tls=*/false, kPerProducer);
  spool::folly_backend::testing::armProducerMutant(false);
  INFO(run.syscalls.writes << " producer writes, " << run.wakeups << " wake-ups");
  CHECK(run.syscalls.writes > run.wakeups);
}
