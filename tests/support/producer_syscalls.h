// Counting the system calls producer threads make, for the proof that they
// never touch a socket or the event loop (any backend). Linking this file
// interposes write, writev, send, sendto, sendmsg, epoll_ctl and ioctl for the
// whole test binary: not for sanitizer builds, whose runtimes intercept the
// same functions.
#pragma once

#include <cstdint>

namespace spool::test {

/// What producer threads did while a ProducerScope was open on them.
struct ProducerSyscalls {
  std::uint64_t writes = 0;                 ///< write(): doorbells, or worse
  std::uint64_t doorbell_writes = 0;        ///< of those, writes of 1 to an eventfd (a doorbell)
  std::uint64_t doorbells_in_one_send = 0;  ///< doorbell writes after the first within one send()
  std::uint64_t socket_calls = 0;  ///< send, sendto, sendmsg, writev
  std::uint64_t epoll_calls = 0;   ///< epoll_ctl
};

/// Marks the current thread as a producer while it lives.
class ProducerScope {
 public:
  ProducerScope() noexcept;
  ~ProducerScope();
  ProducerScope(const ProducerScope&) = delete;
  ProducerScope& operator=(const ProducerScope&) = delete;
};

void resetProducerSyscalls() noexcept;
/// epoll_ctl calls made by any thread of the process since it started.
[[nodiscard]] std::uint64_t epollCtlCalls() noexcept;
/// ioctl(FIONREAD) calls made by any thread of the process since it started.
[[nodiscard]] std::uint64_t fionreadCalls() noexcept;
[[nodiscard]] ProducerSyscalls producerSyscalls() noexcept;

/// The scenario: 4 producers send `per_producer` 32-byte messages each over
/// 16 connections of a 2-loop transport (TLS or plain), honouring
/// backpressure, until every byte arrived. Returns what the producers did
/// and how many wake-ups the loops counted meanwhile.
struct ProducerRunResult {
  ProducerSyscalls syscalls;
  std::uint64_t wakeups = 0;         ///< the loops' wakeups_requested
  std::uint64_t wakeups_served = 0;  ///< the loops' wakeups_served
  std::uint64_t drain_batches = 0;   ///< the loops' drain_batches
  std::uint64_t messages = 0;
};
ProducerRunResult runProducers(bool tls, int per_producer);

}  // namespace spool::test
