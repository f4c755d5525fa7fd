// Test-only switches of the folly backend.
#pragma once

namespace spool::folly_backend::testing {

/// While armed, every send made off the loop thread also calls
/// EventBase::runInEventBaseThread on its connection's loop from the
/// producer (folly code on the producer, writing folly's own eventfd), as a
/// send path built on folly's own handoff would. A proof that producers
/// never run folly code must then fail. See core::testing.
void armProducerMutant(bool armed) noexcept;

}  // namespace spool::folly_backend::testing
