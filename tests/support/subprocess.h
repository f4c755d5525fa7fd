// A child process with pipes to its stdin and from its stdout+stderr, for
// tests that drive real programs (openssl s_client, example servers).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace spool::test {

class Subprocess {
 public:
  /// Starts argv[0] (looked up in PATH) with the given arguments.
  explicit Subprocess(const std::vector<std::string>& argv);
  ~Subprocess();  ///< kills the child if it still runs
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  void write(const std::string& bytes);
  void closeStdin();
  /// Reads until the output contains `text` or the limit passes; true if found.
  bool waitForOutput(const std::string& text, std::chrono::milliseconds limit);
  /// Everything read so far.
  [[nodiscard]] const std::string& output() const noexcept { return output_; }
  /// Waits for exit (reading output meanwhile); the exit code, or -1 on timeout.
  int wait(std::chrono::milliseconds limit);
  void signal(int signal_number);

 private:
  bool readSome(std::chrono::milliseconds limit);

  pid_t pid_ = -1;
  int stdin_fd_ = -1;
  int stdout_fd_ = -1;
  std::string output_;
  int status_ = -1;
};

}  // namespace spool::test
