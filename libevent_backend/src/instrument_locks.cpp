#include "instrument_locks.h"

#include <atomic>

namespace spool::libevent::testing {
namespace {
std::atomic<bool> g_instrument{false};
}  // namespace

void instrumentEventLocks(bool on) noexcept { g_instrument.store(on, std::memory_order_relaxed); }
bool eventLocksInstrumented() noexcept { return g_instrument.load(std::memory_order_relaxed); }

}  // namespace spool::libevent::testing
