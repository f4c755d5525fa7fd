// One folly loop thread: an EventBase, the doorbell's handler and the drain.
#pragma once

#include <folly/io/async/AsyncTimeout.h>
#include <folly/io/async/EventBase.h>
#include <folly/io/async/EventHandler.h>

#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "loop_core.h"

namespace spool::folly_backend {

class FollyConnection;
using core::bump;
using core::ConnectionLimit;
using core::LoopTask;
using core::MemberTask;

/// One loop thread and everything it owns (the inbox and its rules are
/// core::LoopCore's).
///
/// Loop thread only unless marked "Thread-safe". Only this loop's thread
/// ever calls into its EventBase: producers reach the loop through post(),
/// whose only system call is the doorbell's eventfd write, watched here by an
/// EventHandler. folly's own runInEventBaseThread() is never used on the send
/// path: it would run folly code (its notification queue) on every producer.
class FollyLoop final : public core::LoopCore {
 public:
  FollyLoop(unsigned index, const TransportOptions& options, std::shared_ptr<ConnectionLimit> limit);
  ~FollyLoop() override;

  /// Starts the thread. Called once by the transport.
  void start();
  /// Joins the thread, then drains and cancels what is left and frees the
  /// EventBase. Not on the loop thread.
  void joinAndRelease();

  /// A counted reference to this loop. Thread-safe.
  [[nodiscard]] std::shared_ptr<FollyLoop> self() {
    return std::static_pointer_cast<FollyLoop>(shared_from_this());
  }

  // Loop thread only.
  [[nodiscard]] folly::EventBase& base() const noexcept { return *base_; }

  /// While a WriteScope is open (a read callback, a drain batch), output
  /// gathered for a connection is handed to its socket when the scope ends:
  /// one writeChain per connection per scope. Output gathered outside a
  /// scope is handed over at the end of the current loop iteration.
  class WriteScope {
   public:
    explicit WriteScope(FollyLoop& loop) noexcept : loop_(loop) { ++loop_.write_scope_depth_; }
    ~WriteScope() { loop_.closeWriteScope(); }
    WriteScope(const WriteScope&) = delete;
    WriteScope& operator=(const WriteScope&) = delete;

   private:
    FollyLoop& loop_;
  };
  /// `conn` gathered output: flush it when the current scope (or loop
  /// iteration) ends. Once per connection until that flush.
  void noteFlush(FollyConnection* conn);
  /// `conn` is releasing its socket: forget a flush noted for it.
  void forgetFlush(FollyConnection* conn) noexcept;

  // core::LoopCore
  void defer(std::function<void()> fn) override;

 private:
  /// The doorbell: the eventfd producers write on the empty -> non-empty
  /// transition of the inbox.
  class Doorbell final : public folly::EventHandler {
   public:
    Doorbell(FollyLoop& loop, folly::EventBase& base);
    void handlerReady(std::uint16_t events) noexcept override;

   private:
    FollyLoop& loop_;
  };
  /// Runs a member function at the end of a loop iteration (no allocation).
  class Callback final : public folly::EventBase::LoopCallback {
   public:
    Callback(FollyLoop& loop, void (FollyLoop::*fn)()) noexcept : loop_(loop), fn_(fn) {}
    void runLoopCallback() noexcept override { (loop_.*fn_)(); }

   private:
    FollyLoop& loop_;
    void (FollyLoop::*fn_)();
  };

  // core::LoopCore
  void activateDrain() noexcept override;
  void beginDrainBatch() noexcept override { ++write_scope_depth_; }
  void endDrainBatch() noexcept override { closeWriteScope(); }
  void beginStop() override;
  void breakLoop() noexcept override;

  void run();
  void drainAgain() { drain(); }
  void runDeferred();
  void flushNoted() noexcept;
  void closeWriteScope() noexcept;

  std::unique_ptr<folly::EventBase> base_;
  std::unique_ptr<Doorbell> doorbell_;
  Callback drain_callback_{*this, &FollyLoop::drainAgain};
  Callback deferred_callback_{*this, &FollyLoop::runDeferred};
  Callback flush_callback_{*this, &FollyLoop::flushNoted};
  std::unique_ptr<folly::AsyncTimeout> grace_timer_;  // stop(): aborts connections still flushing
  std::jthread thread_;

  // Connections with gathered output; one that releases its socket first
  // takes itself off (forgetFlush()).
  std::vector<FollyConnection*> flushes_;
  unsigned write_scope_depth_ = 0;
  std::vector<std::function<void()>> deferred_;
};

}  // namespace spool::folly_backend
