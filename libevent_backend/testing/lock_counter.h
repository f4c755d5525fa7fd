// Counting lock callbacks for libevent: how tests and benchmarks prove that
// producer threads take no libevent lock.
#pragma once

#include <cstdint>

namespace spool::libevent::testing {

/// Installs working, counting lock, condition and thread-id callbacks into
/// libevent (evthread_set_lock_callbacks and friends), backed by pthreads.
/// Call before any event_base exists (libevent's rule); later calls do
/// nothing. After this, libevent objects created with locking enabled (a base
/// without EVENT_BASE_FLAG_NOLOCK, and every event on it) really lock, and every acquisition is counted per thread.
void installCountingLocks();

/// Lock acquisitions (libevent's lock callback) made by the calling thread.
[[nodiscard]] std::uint64_t locksTakenByThisThread() noexcept;
/// Lock acquisitions by all threads.
[[nodiscard]] std::uint64_t locksTakenTotal() noexcept;

}  // namespace spool::libevent::testing
