// The old libevent way: producers bufferevent_write() into a bufferevent
// created with BEV_OPT_THREADSAFE. Here it is one end of a bufferevent pair
// whose other end the loop reads, so the handoff is measured without a
// socket: each write takes the bufferevent's lock, moves the bytes to the
// partner and schedules its read callback on the loop (the event_base lock,
// and libevent's notification eventfd while the loop waits in epoll).
#include <event2/buffer.h>

#include <cstdio>
#include <cstdlib>

#include "loop_thread.h"
#include "per_loop_strategy.h"
#include "strategies.h"

namespace spool::bench {
namespace {

constexpr std::size_t kRecordsPerRead = 256;

class BufferEventLoop {
 public:
  BufferEventLoop(unsigned index, MessageSink& sink) : index_(index), sink_(sink) {
    bufferevent* pair[2] = {nullptr, nullptr};
    // THREADSAFE: producers write from their own threads (both ends share one lock).
    // DEFER_CALLBACKS: the reader's callback runs on the loop, not on the writer's thread.
    if (bufferevent_pair_new(thread_.base(), BEV_OPT_THREADSAFE | BEV_OPT_DEFER_CALLBACKS, pair) != 0) {
      std::fprintf(stderr, "handoff: bufferevent_pair_new failed\n");
      std::abort();
    }
    writer_.reset(pair[0]);
    reader_.reset(pair[1]);
    bufferevent_setcb(reader_.get(), &onReadCb, nullptr, nullptr, this);
    bufferevent_enable(reader_.get(), EV_READ);
    bufferevent_enable(writer_.get(), EV_WRITE);
  }
  ~BufferEventLoop() {
    thread_.stop();
    reader_.reset();
    writer_.reset();
  }
  void start() { thread_.start(); }
  void stop() { thread_.stop(); }

  void post(Message* msg) noexcept {
    const MessageRecord record{msg->ts, msg->producer, msg->loop};
    bufferevent_write(writer_.get(), &record, sizeof(record));
  }

 private:
  static void onReadCb(bufferevent*, void* ctx) { static_cast<BufferEventLoop*>(ctx)->read(); }

  void read() noexcept {
    evbuffer* input = bufferevent_get_input(reader_.get());
    MessageRecord records[kRecordsPerRead];
    for (;;) {
      const int n = evbuffer_remove(input, records, sizeof(records));
      if (n <= 0) {
        break;
      }
      // Writes are whole records under the lock, so reads are too.
      for (std::size_t i = 0; i < static_cast<std::size_t>(n) / sizeof(MessageRecord); ++i) {
        sink_.receive(index_, records[i].producer, records[i].ts, nullptr);
      }
    }
    sink_.flush(index_);
  }

  const unsigned index_;
  MessageSink& sink_;
  LoopThread thread_{true};
  BufferEventPtr writer_;
  BufferEventPtr reader_;
};

}  // namespace

std::unique_ptr<HandoffStrategy> makeThreadsafeBuffereventStrategy(unsigned loops, MessageSink& sink) {
  return std::make_unique<PerLoopStrategy<BufferEventLoop>>(loops, sink);
}

}  // namespace spool::bench
