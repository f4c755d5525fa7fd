// The libevent implementation of spool::Transport.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <vector>

#include "event_loop.h"
#include "spool/transport.h"

namespace spool::libevent {

/// Thread-safe, except that start() and stop() must not run on a loop thread.
class LibeventTransport final : public Transport {
 public:
  explicit LibeventTransport(const TransportOptions& options);
  ~LibeventTransport() override;

  // Transport
  void start() override;
  void stop() override;
  [[nodiscard]] spool::ListenerPtr listen(const ListenOptions& options, HandlerFactory factory) override;
  [[nodiscard]] ConnectionPtr connect(const ConnectOptions& options, HandlerPtr handler) override;
  [[nodiscard]] unsigned loopCount() const noexcept override {
    return static_cast<unsigned>(loops_.size());
  }
  [[nodiscard]] std::vector<LoopStats> stats() const override;

 private:
  void requireRunning(const char* what) const;

  TransportOptions options_;
  std::vector<std::shared_ptr<EventLoop>> loops_;
  std::mutex lifecycle_mutex_;  // start/stop only, never on the data path
  std::atomic<int> phase_{0};   // 0 created, 1 running, 2 stopped
  std::atomic<unsigned> next_loop_{0};
};

}  // namespace spool::libevent
