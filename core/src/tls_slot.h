// The server TLS context a listener gives the connections it accepts.
#pragma once

#include <memory>
#include <mutex>
#include <utility>

namespace spool::core {

/// Holds a listener's current server context (`T`: the backend's wrapper
/// around a core::TlsContext), shared by its loops' acceptors, and swaps it
/// whole for Listener::replaceTls(): a connection takes the context current
/// when it is accepted and keeps it for its life.
/// Thread-safe. The lock is taken once per accepted connection and per
/// swap, never on the data path.
template <typename T>
class TlsSlot {
 public:
  explicit TlsSlot(std::shared_ptr<const T> initial) : current_(std::move(initial)) {}

  [[nodiscard]] std::shared_ptr<const T> get() const {
    std::lock_guard lock(mutex_);
    return current_;
  }
  void set(std::shared_ptr<const T> next) {
    std::lock_guard lock(mutex_);
    current_.swap(next);  // the old context is released after unlocking (as `next`)
  }

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const T> current_;
};

}  // namespace spool::core
