// The file descriptor producers write to wake a sleeping loop.
#pragma once

namespace spool::core {

/// An eventfd (a pipe where there is none) used as a level-triggered doorbell.
/// signal() is thread-safe and async-signal-safe: one 8-byte write, no lock.
class WakeFd {
 public:
  WakeFd();  ///< @throws SetupError when no descriptor can be made
  ~WakeFd();
  WakeFd(const WakeFd&) = delete;
  WakeFd& operator=(const WakeFd&) = delete;

  /// The descriptor the loop polls for readability.
  [[nodiscard]] int readFd() const noexcept { return read_fd_; }
  /// Rings the doorbell. Thread-safe.
  void signal() const noexcept;
  /// Clears the doorbell. Loop thread only.
  void consume() const noexcept;

 private:
  int read_fd_ = -1;
  int write_fd_ = -1;  // == read_fd_ for an eventfd
};

}  // namespace spool::core
