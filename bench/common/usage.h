// Clocks and resource usage: what the benchmarks charge to each thread.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>

namespace spool::bench {

/// CLOCK_MONOTONIC in nanoseconds (the clock of the stream wire format).
std::uint64_t nowNs() noexcept;

/// Seconds as a double, for durations.
inline double seconds(std::uint64_t ns) noexcept { return static_cast<double>(ns) * 1e-9; }

/// What the calling thread has spent so far. Subtract two snapshots.
struct ThreadUsage {
  std::uint64_t voluntary_switches = 0;    ///< it blocked (futex, read, poll, nanosleep)
  std::uint64_t involuntary_switches = 0;  ///< it was preempted or yielded
  std::uint64_t write_syscalls = 0;        ///< write()/writev()/send() calls (eventfd writes too)
  double cpu_s = 0;

  /// getrusage(RUSAGE_THREAD) and /proc/thread-self/io (write syscalls are 0
  /// where the kernel does not account them).
  static ThreadUsage now() noexcept;
  ThreadUsage operator-(const ThreadUsage& earlier) const noexcept;
  ThreadUsage& operator+=(const ThreadUsage& other) noexcept;
};

/// User and system CPU seconds of this process (getrusage(RUSAGE_SELF)).
struct ProcessCpu {
  double user_s = 0;
  double sys_s = 0;
  static ProcessCpu now() noexcept;
};

/// User + system CPU seconds of process `pid` from /proc/PID/stat, or
/// nothing when it cannot be read.
std::optional<double> processCpuSeconds(pid_t pid) noexcept;

}  // namespace spool::bench
