// The stream server written the way a folly application hands work to its
// loops, the baselines issue 10 measures spool against (folly v2023.02.20):
// one folly::EventBase per loop thread, one AsyncServerSocket per loop on the
// same port (SO_REUSEPORT, as spool listens), one AsyncSocket per connection,
// and for every producer message
//   folly-post: evb->runInEventBaseThread(closure), or
//   folly-wait: evb->runInEventBaseThreadAndWait(closure): one round trip per
//               message, the alternative kv_engine's folly commit considered;
// the closure hands the message to AsyncSocket::writeChain as one IOBuf.
// The same window as every mode (send_budget.h): a message's bytes count from
// the producer's reserve until folly reports its write done. Producers call
// folly only to post; the socket is touched on its loop thread only.
#include <folly/SocketAddress.h>
#include <folly/io/IOBuf.h>
#include <folly/io/async/AsyncServerSocket.h>
#include <folly/io/async/AsyncSocket.h>
#include <folly/io/async/EventBase.h>
#include <pthread.h>

#include <array>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "frame.h"
#include "send_budget.h"
#include "stream_mode.h"
#include "usage.h"

namespace spool::bench {
namespace {

constexpr int kListenBacklog = 1024;

class FollyStreamMode;

/// One loop thread: its EventBase and its listening socket. start() and
/// stop() on the main thread; the accept callback runs on the loop.
class FollyLoop final : public folly::AsyncServerSocket::AcceptCallback {
 public:
  FollyLoop(FollyStreamMode& mode, unsigned index) : mode_(mode), index_(index) {}
  ~FollyLoop() override { stop(); }

  folly::EventBase& evb() noexcept { return evb_; }
  /// Binds 127.0.0.1:port (0: any free port) and returns the bound port.
  /// Before start(): folly lets any thread use an EventBase whose loop is not running.
  std::uint16_t listen(std::uint16_t port);
  void start();
  /// On the loop thread, after every closure posted so far: closes the
  /// listener and runs `close_on_loop`; then stops the loop and joins it.
  /// Idempotent.
  template <typename F>
  void stop(F&& close_on_loop);
  void stop() {
    stop([] {});
  }

  void connectionAccepted(folly::NetworkSocket fd, const folly::SocketAddress&,
                          AcceptInfo) noexcept override;

 private:
  FollyStreamMode& mode_;
  const unsigned index_;
  folly::EventBase evb_;  // declared before the acceptor: destroyed after it
  std::shared_ptr<folly::AsyncServerSocket> acceptor_;
  std::thread thread_;
};

/// One connection. send() on its owning producer; everything else on the loop.
class FollySlot final : public StreamSlot,
                        public folly::AsyncReader::ReadCallback,
                        public folly::AsyncWriter::WriteCallback {
 public:
  FollySlot(FollyLoop& loop, folly::AsyncSocket::UniquePtr socket, const StreamConfig& config,
            SlotRegistry& registry)
      : loop_(loop),
        registry_(registry),
        socket_(std::move(socket)),
        budget_(config.highWatermark(), config.lowWatermark()),
        size_(config.msg_size),
        wait_(config.mode == "folly-wait") {}

  SendOutcome send() noexcept override {
    if (closed.load(std::memory_order_acquire)) {
      return SendOutcome::kClosed;
    }
    if (!budget_.reserve(size_)) {
      return SendOutcome::kBackpressure;
    }
    // One IOBuf per message, as a folly application builds its responses.
    auto buf = folly::IOBuf::create(size_);
    encodeMessage(reinterpret_cast<std::byte*>(buf->writableData()), size_, nowNs(), next_seq);
    buf->append(size_);
    auto write = [this, buf = std::move(buf)]() mutable { deliver(std::move(buf)); };
    if (wait_) {
      loop_.evb().runInEventBaseThreadAndWait(std::move(write));
    } else {
      loop_.evb().runInEventBaseThread(std::move(write));
    }
    return SendOutcome::kOk;
  }

  // Loop thread.
  void startReading() { socket_->setReadCB(this); }
  [[nodiscard]] const FollyLoop& loop() const noexcept { return loop_; }
  /// Destroys the socket: folly fails its pending writes (writeErr), which
  /// gives their bytes back. The read callback goes first: closing would
  /// call readEOF while socket_ is already null.
  void closeSocket() noexcept {
    if (socket_) {
      socket_->setReadCB(nullptr);
      socket_.reset();
    }
  }

  // ReadCallback: the client sends nothing we need; EOF or an error ends it.
  void getReadBuffer(void** buf, std::size_t* len) override {
    *buf = discard_.data();
    *len = discard_.size();
  }
  void readDataAvailable(std::size_t) noexcept override {}
  void readEOF() noexcept override { peerGone(); }
  void readErr(const folly::AsyncSocketException&) noexcept override { peerGone(); }

  // WriteCallback: exactly one of these per writeChain call, i.e. per message.
  void writeSuccess() noexcept override {
    if (budget_.release(size_)) {
      announceWritable();
    }
  }
  void writeErr(std::size_t, const folly::AsyncSocketException&) noexcept override {
    budget_.release(size_);
    registry_.markClosed(*this);
  }

 private:
  void deliver(std::unique_ptr<folly::IOBuf>&& buf) noexcept {
    if (closed.load(std::memory_order_relaxed) || !socket_) {
      budget_.release(size_);  // the peer left while this message was queued
      return;
    }
    socket_->writeChain(this, std::move(buf));
  }
  void peerGone() noexcept {
    registry_.markClosed(*this);
    // Safe here: folly defers the socket's destruction past its own callback,
    // and the slot (which producers may still hold) outlives it.
    socket_->setReadCB(nullptr);
    socket_->closeNow();
  }

  FollyLoop& loop_;
  SlotRegistry& registry_;
  folly::AsyncSocket::UniquePtr socket_;
  SendBudget budget_;
  const std::size_t size_;
  const bool wait_;
  std::array<char, 4096> discard_{};
};

class FollyStreamMode final : public StreamMode {
 public:
  FollyStreamMode(const StreamConfig& config, SlotRegistry& registry)
      : config_(config), registry_(registry) {}
  ~FollyStreamMode() override { stop(); }

  std::uint16_t start() override;
  void stop() override;

  // Loop thread.
  void accept(FollyLoop& loop, folly::NetworkSocket fd);

 private:
  void closeSlotsOf(const FollyLoop& loop);

  const StreamConfig& config_;
  SlotRegistry& registry_;
  std::vector<std::unique_ptr<FollyLoop>> loops_;
  std::mutex slots_mutex_;
  std::vector<std::shared_ptr<FollySlot>> slots_;  // every connection ever opened
  bool stopped_ = false;
};

std::uint16_t FollyLoop::listen(std::uint16_t port) {
  acceptor_ = folly::AsyncServerSocket::newSocket(&evb_);
  acceptor_->setReusePortEnabled(true);  // one listening socket per loop on one port
  acceptor_->bind(folly::SocketAddress("127.0.0.1", port));
  acceptor_->listen(kListenBacklog);
  // No EventBase of its own: the callback runs right on this loop, no queue.
  acceptor_->addAcceptCallback(this, nullptr);
  acceptor_->startAccepting();
  return acceptor_->getAddress().getPort();
}

void FollyLoop::start() {
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), ("folly-loop-" + std::to_string(index_)).c_str());
    evb_.loopForever();
  });
  evb_.waitUntilRunning();
}

template <typename F>
void FollyLoop::stop(F&& close_on_loop) {
  if (!thread_.joinable()) {
    return;
  }
  // FIFO behind every closure already posted, so none runs after this.
  evb_.runInEventBaseThreadAndWait([&] {
    acceptor_.reset();
    close_on_loop();
  });
  evb_.terminateLoopSoon();
  thread_.join();
}

void FollyLoop::connectionAccepted(folly::NetworkSocket fd, const folly::SocketAddress&,
                                   AcceptInfo) noexcept {
  mode_.accept(*this, fd);
}

std::uint16_t FollyStreamMode::start() {
  std::uint16_t port = config_.port;
  for (unsigned i = 0; i < config_.loops; ++i) {
    loops_.push_back(std::make_unique<FollyLoop>(*this, i));
    port = loops_.back()->listen(port);  // throws (caught by main) when the port is taken
  }
  for (auto& loop : loops_) {
    loop->start();
  }
  return port;
}

void FollyStreamMode::accept(FollyLoop& loop, folly::NetworkSocket fd) {
  auto socket = folly::AsyncSocket::newSocket(&loop.evb(), fd);
  socket->setNoDelay(true);
  auto slot = std::make_shared<FollySlot>(loop, std::move(socket), config_, registry_);
  slot->startReading();
  {
    std::lock_guard lock(slots_mutex_);
    slots_.push_back(slot);
  }
  registry_.add(slot);
}

void FollyStreamMode::closeSlotsOf(const FollyLoop& loop) {
  std::lock_guard lock(slots_mutex_);
  for (auto& slot : slots_) {
    if (&slot->loop() == &loop) {
      registry_.markClosed(*slot);
      slot->closeSocket();
    }
  }
}

void FollyStreamMode::stop() {
  if (stopped_) {
    return;
  }
  stopped_ = true;
  for (auto& loop : loops_) {
    FollyLoop& l = *loop;
    l.stop([this, &l] { closeSlotsOf(l); });
  }
  loops_.clear();  // each ~EventBase runs what is still queued: the slots must outlive it
  slots_.clear();
}

}  // namespace

std::unique_ptr<StreamMode> makeFollyStreamMode(const StreamConfig& config,
                                                SlotRegistry& registry) {
  return std::make_unique<FollyStreamMode>(config, registry);
}

}  // namespace spool::bench
