// Test-only switch of the libevent backend: locks on its libevent objects.
#pragma once

namespace spool::libevent::testing {

/// Gives the event_base of loops created from now on its internal lock (no
/// EVENT_BASE_FLAG_NOLOCK; every event on the base takes it), so that a
/// test counting lock acquisitions would see any libevent call a producer
/// thread made. Never needed in production: spool never relies on those
/// locks. Set it before creating the Transport.
void instrumentEventLocks(bool on) noexcept;
[[nodiscard]] bool eventLocksInstrumented() noexcept;

/// Test-only mutant: while armed, every send made off the loop thread also
/// touches its connection's event_base (taking the base's lock when
/// instrumented), as a broken send path would. See core::testing.
void armProducerMutant(bool armed) noexcept;

}  // namespace spool::libevent::testing
