// A child process with its stdout and stderr captured in one pipe (and,
// optionally, a pipe to its stdin): for tests that drive real programs
// (spoold, the example server, openssl s_client, memcached tools).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace spool::test {

class ChildProcess {
 public:
  static constexpr std::chrono::milliseconds kDefaultLimit{20'000};

  /// Starts `argv[0]` (looked up in PATH) with posix_spawn, so nothing runs
  /// between fork and exec in this multi-threaded process; the child starts
  /// with no signal blocked. stdin is /dev/null unless `with_stdin`. Fails
  /// the test when it cannot start.
  explicit ChildProcess(const std::vector<std::string>& argv, bool with_stdin = false);
  ~ChildProcess();  ///< kills the child if it still runs
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  /// Writes to the child's stdin (needs `with_stdin`).
  void write(std::string_view bytes);
  void closeStdin();
  /// Reads the output until it contains `needle` (or the child exits).
  bool waitForOutput(std::string_view needle, std::chrono::milliseconds limit = kDefaultLimit);
  /// Reads the output until a whole line starting with `prefix` is there;
  /// returns that line (empty on timeout or exit).
  std::string waitForLine(std::string_view prefix, std::chrono::milliseconds limit = kDefaultLimit);
  /// Waits for the exit, reading the output meanwhile; fails the test and
  /// kills the child after `limit`. @return the exit code, or 128 + signal.
  int wait(std::chrono::milliseconds limit = kDefaultLimit);
  void signal(int sig);
  [[nodiscard]] const std::string& output() const noexcept { return output_; }
  [[nodiscard]] pid_t pid() const noexcept { return pid_; }

 private:
  using Clock = std::chrono::steady_clock;
  bool pump(Clock::time_point deadline);

  pid_t pid_ = -1;
  int out_fd_ = -1;
  int in_fd_ = -1;
  int pid_fd_ = -1;
  std::optional<int> status_;
  std::string output_;
};

}  // namespace spool::test
