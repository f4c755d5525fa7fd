#include "instrument_locks.h"

#include <atomic>

#include "loop_core.h"

namespace spool::libevent::testing {
namespace {
std::atomic<bool> g_instrument{false};
}  // namespace

void instrumentEventLocks(bool on) noexcept { g_instrument.store(on, std::memory_order_relaxed); }
bool eventLocksInstrumented() noexcept { return g_instrument.load(std::memory_order_relaxed); }
void armProducerMutant(bool armed) noexcept { core::testing::armProducerMutant(armed); }

}  // namespace spool::libevent::testing
