// A LoopCore without an event library, for unit tests of core's connection
// logic: the test thread is the loop thread, and deferred work and the inbox
// run only when the test says so.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "loop_core.h"

namespace spool::test {

/// A loop run by hand on the test thread. enterLoopThread() (what a
/// backend's loop thread calls first) makes the test thread this loop's
/// thread; it also names the thread and blocks SIGPIPE on it, both harmless
/// here.
class FakeLoop final : public core::LoopCore {
 public:
  explicit FakeLoop(const TransportOptions& options = {})
      : LoopCore(0, options, std::make_shared<core::ConnectionLimit>(0)) {
    enterLoopThread();
  }
  ~FakeLoop() override { leaveLoopThread(); }

  void defer(std::function<void()> fn) override { deferred_.push_back(std::move(fn)); }
  /// One later turn: runs what was deferred before this call. @return how many.
  std::size_t runDeferred() {
    auto turn = std::exchange(deferred_, {});
    for (auto& fn : turn) {
      fn();
    }
    return turn.size();
  }
  /// What the backend does when the doorbell or activateDrain() fires.
  void runInbox() { drain(); }
  void dropTable() noexcept { clearConnections(); }

 private:
  void activateDrain() noexcept override {}
  void beginStop() override {}
  void breakLoop() noexcept override {}

  std::vector<std::function<void()>> deferred_;
};

}  // namespace spool::test
