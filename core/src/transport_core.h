// What every backend's Transport shares: the loops' life cycle, the checks
// on each call, round-robin placement of outgoing connections and stats.
#pragma once

#include <algorithm>
#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "connection_limit.h"
#include "loop_core.h"
#include "socket_address.h"
#include "spool/errors.h"
#include "spool/transport.h"

namespace spool::core {

/// A Transport over N loops of type `Loop` (a LoopCore with start(),
/// joinAndRelease() and a (index, options, limit) constructor). The backend
/// supplies listenOn() and connectOn(). Thread-safe, except that start() and
/// stop() must not run on a loop thread.
template <typename Loop>
class TransportCore : public Transport {
 public:
  explicit TransportCore(const TransportOptions& options) : options_(options) {
    if (options_.loops == 0) {
      options_.loops = std::max(1u, std::thread::hardware_concurrency());
    }
    options_.drain_batch = std::max<std::size_t>(options_.drain_batch, 1);
    auto limit = std::make_shared<ConnectionLimit>(options_.max_connections);
    loops_.reserve(options_.loops);
    for (unsigned i = 0; i < options_.loops; ++i) {
      loops_.push_back(std::make_shared<Loop>(i, options_, limit));
    }
  }
  ~TransportCore() override {
    if (onLoopThread()) {
      fatal("a Transport was destroyed on one of its own loop threads");
    }
    stop();
  }

  // Transport
  void start() override {
    requireOffLoop("Transport::start");
    std::lock_guard lock(lifecycle_mutex_);
    if (phase_.load() != kCreated) {
      throw SetupError("Transport::start: already started or stopped");
    }
    for (auto& loop : loops_) {
      loop->start();
    }
    phase_.store(kRunning);
  }
  void stop() override {
    requireOffLoop("Transport::stop");
    std::lock_guard lock(lifecycle_mutex_);
    if (phase_.exchange(kStopped) == kStopped) {
      return;
    }
    for (auto& loop : loops_) {
      loop->requestStop();
    }
    for (auto& loop : loops_) {
      loop->joinAndRelease();
    }
  }
  [[nodiscard]] ListenerPtr listen(const ListenOptions& options, HandlerFactory factory) override {
    requireOffLoop("Transport::listen");
    requireRunning("Transport::listen");
    if (!factory) {
      throw SetupError("Transport::listen: no handler factory");
    }
    return listenOn(loops_, options, std::move(factory));
  }
  [[nodiscard]] ConnectionPtr connect(const ConnectOptions& options, HandlerPtr handler) override {
    requireOffLoop("Transport::connect");
    requireRunning("Transport::connect");
    if (!handler) {
      throw SetupError("Transport::connect: no handler");
    }
    const SocketAddress address = SocketAddress::resolve(options.host, options.port, false);
    auto& loop = loops_[next_loop_.fetch_add(1, std::memory_order_relaxed) % loops_.size()];
    if (options.tls && options.tls->server_name.empty()) {
      // The peer's certificate must name the host we were asked to reach.
      ConnectOptions named = options;
      named.tls->server_name = options.host;
      return connectOn(loop, named, address, std::move(handler));
    }
    return connectOn(loop, options, address, std::move(handler));
  }
  [[nodiscard]] unsigned loopCount() const noexcept override { return static_cast<unsigned>(loops_.size()); }
  [[nodiscard]] std::vector<LoopStats> stats() const override {
    std::vector<LoopStats> result;
    result.reserve(loops_.size());
    for (const auto& loop : loops_) {
      result.push_back(loop->stats());
    }
    return result;
  }

 protected:
  using LoopPtr = std::shared_ptr<Loop>;
  virtual ListenerPtr listenOn(const std::vector<LoopPtr>& loops, const ListenOptions& options,
                               HandlerFactory factory) = 0;
  virtual ConnectionPtr connectOn(const LoopPtr& loop, const ConnectOptions& options,
                                  const SocketAddress& address, HandlerPtr handler) = 0;

 private:
  static constexpr int kCreated = 0;
  static constexpr int kRunning = 1;
  static constexpr int kStopped = 2;

  [[nodiscard]] bool onLoopThread() const noexcept {
    return std::any_of(loops_.begin(), loops_.end(), [](const LoopPtr& loop) { return loop->inLoopThread(); });
  }
  /// These calls wait for the loops: on a loop thread they would wait for
  /// themselves.
  void requireOffLoop(const char* what) const {
    if (onLoopThread()) {
      throw SetupError(std::string(what) + " called on one of the transport's loop threads; call it from "
                                           "another thread");
    }
  }
  void requireRunning(const char* what) const {
    if (phase_.load() != kRunning) {
      throw SetupError(std::string(what) + ": transport is not running");
    }
  }

  TransportOptions options_;
  std::vector<LoopPtr> loops_;
  std::mutex lifecycle_mutex_;  // start/stop only, never on the data path
  std::atomic<int> phase_{kCreated};
  std::atomic<unsigned> next_loop_{0};
};

}  // namespace spool::core
