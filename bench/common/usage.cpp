#include "usage.h"

#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

namespace spool::bench {
namespace {

double toSeconds(const timeval& tv) noexcept {
  return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) * 1e-6;
}

std::uint64_t threadWriteSyscalls() noexcept {
  FILE* file = std::fopen("/proc/thread-self/io", "re");
  if (file == nullptr) {
    return 0;
  }
  char line[128];
  unsigned long long value = 0;
  while (std::fgets(line, sizeof(line), file) != nullptr) {
    if (std::sscanf(line, "syscw: %llu", &value) == 1) {
      break;
    }
  }
  std::fclose(file);
  return value;
}

}  // namespace

std::uint64_t nowNs() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<std::uint64_t>(ts.tv_nsec);
}

ThreadUsage ThreadUsage::now() noexcept {
  rusage usage{};
  getrusage(RUSAGE_THREAD, &usage);
  ThreadUsage result;
  result.voluntary_switches = static_cast<std::uint64_t>(usage.ru_nvcsw);
  result.involuntary_switches = static_cast<std::uint64_t>(usage.ru_nivcsw);
  result.write_syscalls = threadWriteSyscalls();
  result.cpu_s = toSeconds(usage.ru_utime) + toSeconds(usage.ru_stime);
  return result;
}

ThreadUsage ThreadUsage::operator-(const ThreadUsage& earlier) const noexcept {
  ThreadUsage d;
  d.voluntary_switches = voluntary_switches - earlier.voluntary_switches;
  d.involuntary_switches = involuntary_switches - earlier.involuntary_switches;
  d.write_syscalls = write_syscalls - earlier.write_syscalls;
  d.cpu_s = cpu_s - earlier.cpu_s;
  return d;
}

ThreadUsage& ThreadUsage::operator+=(const ThreadUsage& other) noexcept {
  voluntary_switches += other.voluntary_switches;
  involuntary_switches += other.involuntary_switches;
  write_syscalls += other.write_syscalls;
  cpu_s += other.cpu_s;
  return *this;
}

ProcessCpu ProcessCpu::now() noexcept {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return {toSeconds(usage.ru_utime), toSeconds(usage.ru_stime)};
}

std::optional<double> processCpuSeconds(pid_t pid) noexcept {
  const std::string path = "/proc/" + std::to_string(pid) + "/stat";
  FILE* file = std::fopen(path.c_str(), "re");
  if (file == nullptr) {
    return std::nullopt;
  }
  char buf[1024];
  const std::size_t n = std::fread(buf, 1, sizeof(buf) - 1, file);
  std::fclose(file);
  buf[n] = '\0';
  // The command name (field 2) may hold spaces and parentheses: skip to the last ')'.
  const char* p = std::strrchr(buf, ')');
  if (p == nullptr) {
    return std::nullopt;
  }
  unsigned long long utime = 0;
  unsigned long long stime = 0;
  // Fields 3..15 follow: state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime.
  if (std::sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2) {
    return std::nullopt;
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

}  // namespace spool::bench
