// spoold as a child process of the soak: started with its stderr captured
// in a file, watched through /proc, stopped with SIGTERM.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace spool::bench {

/// Main thread only (it forks; the client threads must not be running).
class ServerProcess {
 public:
  /// Starts `binary` with `args`; stdout goes to /dev/null, stderr to
  /// `stderr_path`. The child is killed if the soak dies (PR_SET_PDEATHSIG).
  /// Throws std::runtime_error when it cannot fork.
  ServerProcess(const std::string& binary, const std::vector<std::string>& args,
                const std::string& stderr_path);
  /// Kills and reaps the child if it is still running.
  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  [[nodiscard]] pid_t pid() const noexcept { return pid_; }
  /// Reaps the child if it has exited (then exitDescription() says how).
  bool alive();
  /// Entries in /proc/PID/fd.
  [[nodiscard]] std::optional<std::uint64_t> fdCount() const;
  /// VmRSS / VmHWM from /proc/PID/status, in KiB.
  [[nodiscard]] std::optional<std::uint64_t> rssKiB() const { return statusKiB("VmRSS:"); }
  [[nodiscard]] std::optional<std::uint64_t> peakRssKiB() const { return statusKiB("VmHWM:"); }
  /// Whether the child runs AddressSanitizer: its runtime library is
  /// mapped, or (a static runtime) its shadow memory sits at x86-64's fixed
  /// shadow offset.
  [[nodiscard]] bool hasAddressSanitizer() const;
  /// SIGTERM, then waits up to `timeout_ns` for the exit (SIGKILL after).
  /// True when it exited with status 0.
  bool stop(std::uint64_t timeout_ns);
  /// "running", "exit N", "signal N" or "killed after SIGTERM timed out".
  [[nodiscard]] const std::string& exitDescription() const noexcept { return exit_; }

 private:
  [[nodiscard]] std::optional<std::uint64_t> statusKiB(const char* field) const;
  void reaped(int status);

  pid_t pid_ = -1;
  bool running_ = false;
  std::string exit_ = "running";
};

/// Lines of `stderr_path` that report a sanitizer error (ASan, LSan, UBSan,
/// TSan): the soak requires none.
std::vector<std::string> sanitizerReports(const std::string& stderr_path);

/// How much freed memory ASan keeps in quarantine, in MiB: ASAN_OPTIONS'
/// quarantine_size_mb, else the runtime's 64-bit default (256).
std::uint64_t asanQuarantineMiB();

/// The last `lines` lines of a file (for a failure report).
std::string fileTail(const std::string& path, std::size_t lines);

/// A port on 127.0.0.1 that was free a moment ago (the caller retries with
/// another if the server then fails to bind it).
unsigned freePort();

}  // namespace spool::bench
