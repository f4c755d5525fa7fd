// spool's inbox, measured through the seam: the backend's own loop (the
// libevent EventLoop or the folly FollyLoop, whichever this build links)
// and core::ConnectionBase's send path, with a connection whose "socket" is
// the benchmark's sink. What runs is the code a real send runs: the budget's
// reserve, the push onto the loop's MPSC inbox, the doorbell on the
// empty -> non-empty transition, the bounded drain and its re-arm; only the
// write to a socket is replaced by handing the message to the sink.
#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <utility>
#include <vector>

#include "connection_base.h"
#include "per_loop_strategy.h"
#include "strategies.h"
#ifdef SPOOL_BENCH_BACKEND_FOLLY
#include "folly_loop.h"
#else
#include "event_loop.h"
#endif

namespace spool::bench {
namespace {

#ifdef SPOOL_BENCH_BACKEND_FOLLY
using BackendLoop = folly_backend::FollyLoop;
#else
using BackendLoop = libevent::EventLoop;
#endif

/// What one payload carries: the message's fields, by value (the producer
/// may reuse its Message once the send returns).
struct Record {
  std::uint64_t ts;
  std::uint32_t producer;
  std::binary_semaphore* done;  // run-and-wait: released once the loop has it
};

/// A connection whose output is the benchmark's sink: each delivered payload
/// is one Record, handed to the sink on the loop thread.
class SinkConnection final : public core::ConnectionBase {
 public:
  static std::shared_ptr<SinkConnection> create(std::shared_ptr<BackendLoop> loop, unsigned index,
                                                MessageSink& sink) {
    return adopt(new SinkConnection(std::move(loop), index, sink));
  }

  // core::ConnectionBase
  void deliver(detail::BufferBlock* block) noexcept override {
    Record record;
    std::memcpy(&record, block->data, sizeof(record));
    sink_.receive(index_, record.producer, record.ts, record.done);
    countMessage();
    unretired_ += block->size;
    detail::BufferBlock::destroy(block);
    if (!flush_scheduled_) {
      // Once per drain batch, as a socket write would: retire the batch's
      // bytes from the budget and publish progress (the other strategies
      // publish once per callback).
      flush_scheduled_ = true;
      core().defer([this] {
        flush_scheduled_ = false;
        onBytesWritten(std::exchange(unretired_, 0));
        sink_.flush(index_);
      });
    }
  }

 private:
  SinkConnection(std::shared_ptr<BackendLoop> loop, unsigned index, MessageSink& sink)
      : ConnectionBase(std::move(loop), nullptr, unlimited(), "sink", false), index_(index), sink_(sink) {}
  static ConnectionOptions unlimited() {
    ConnectionOptions options;
    options.send_high_watermark = std::size_t{1} << 40;  // the window bounds the benchmark
    return options;
  }
  void stopReading() noexcept override {}  // it reads nothing
  void restartReading() override {}
  void deliverBufferedInput() override {}
  void startFlush() override {}
  void startLinger() override {}
  void stopIo() noexcept override {}
  std::size_t releaseIo() noexcept override { return 0; }

  const unsigned index_;
  MessageSink& sink_;
  bool flush_scheduled_ = false;  // loop thread
  std::size_t unretired_ = 0;     // delivered bytes the budget still counts
};

/// One backend loop and its sink connection.
class InboxLoop {
 public:
  InboxLoop(unsigned index, MessageSink& sink)
      : loop_(std::make_shared<BackendLoop>(index, TransportOptions{}, std::make_shared<core::ConnectionLimit>(0))),
        conn_(SinkConnection::create(loop_, index, sink)) {}
  ~InboxLoop() { stop(); }

  void start() { loop_->start(); }
  void stop() {
    if (conn_) {
      conn_.reset();  // its destroy task goes through the inbox like any send
      loop_->requestStop();
      loop_->joinAndRelease();
    }
  }
  /// Thread-safe: Connection::send, as any producer calls it.
  void post(Message* msg) noexcept {
    const Record record{msg->ts, msg->producer, msg->done};
    (void)conn_->send(Buffer::copyOf(std::span(reinterpret_cast<const std::byte*>(&record), sizeof(record))));
  }

 private:
  std::shared_ptr<BackendLoop> loop_;
  std::shared_ptr<SinkConnection> conn_;
};

}  // namespace

/// The backend's loops run on lock-free bases, so this benchmark cannot see
/// a producer's libevent call: it reports no lock count (the proof is the
/// lock-count and producer-syscall tests).
class InboxStrategy final : public PerLoopStrategy<InboxLoop> {
 public:
  using PerLoopStrategy::PerLoopStrategy;
  [[nodiscard]] bool countsProducerLocks() const noexcept override { return false; }
};

std::unique_ptr<HandoffStrategy> makeSpoolInboxStrategy(unsigned loops, MessageSink& sink) {
  return std::make_unique<InboxStrategy>(loops, sink);
}

}  // namespace spool::bench
