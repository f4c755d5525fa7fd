// The stream server's libevent baselines, written the way applications do
// it without spool: one event_base per loop, bufferevents per connection, and
//   post:       a mutex-protected vector + event_active on empty -> non-empty
//               (Envoy, muduo); the loop appends to the bufferevent, or
//   threadsafe: bufferevent_write from the producer into a
//               BEV_OPT_THREADSAFE bufferevent (the old libevent way), or
//   raw-loop:   no producers and no handoff at all: the loop thread encodes
//               each frame straight into the bufferevent's output
//               (evbuffer_reserve_space / commit, no intermediate copy) while
//               the output is under the window, and again from the write
//               callback once it drained to the low watermark. Its base runs
//               without locks. It is the upper bound spool's stream is held
//               to: what a plain libevent server does when nothing crosses a
//               thread.
// post and threadsafe keep the same window as spool mode (send_budget.h).
#include <event2/buffer.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <vector>

#include "frame.h"
#include "loop_thread.h"
#include "post_queue.h"
#include "send_budget.h"
#include "stream_mode.h"
#include "usage.h"

namespace spool::bench {
namespace {

// spool's TransportOptions::copy_threshold and per-write cap, so that the
// modes differ in the handoff only.
constexpr std::size_t kCopyThreshold = 512;
constexpr ev_ssize_t kMaxSingleWrite = 1 << 20;

class LibeventStreamMode;
class BevSlot;

struct PostItem {
  BevSlot* slot;
  std::byte* data;  // malloc'ed message
  std::size_t size;
};

/// One loop: its base, its listening socket and (post mode) its queue.
struct LibeventLoop {
  explicit LibeventLoop(bool locking) : thread(locking) {}
  LoopThread thread;  // declared first: destroyed last
  LibeventStreamMode* mode = nullptr;
  EvListenerPtr listener;
  EventPtr run_event;
  PostQueue<PostItem> queue;
  std::vector<PostItem> running;  // loop thread only

  void post(const PostItem& item) noexcept {
    if (queue.post(item)) {
      // Takes the event_base lock; writes libevent's notify fd while the loop sleeps.
      event_active(run_event.get(), EV_TIMEOUT, 0);
    }
  }
  static void onRunCb(evutil_socket_t, short, void* ctx);
};

class BevSlot final : public StreamSlot {
 public:
  BevSlot(LibeventLoop& loop, BufferEventPtr bev, const StreamConfig& config, SlotRegistry& registry)
      : loop_(loop), registry_(registry), bev_(std::move(bev)), budget_(config.highWatermark(), config.lowWatermark()),
        size_(config.msg_size), high_(config.highWatermark()), threadsafe_(config.mode == "threadsafe") {}

  SendOutcome send() noexcept override {
    if (closed.load(std::memory_order_acquire)) {
      return SendOutcome::kClosed;
    }
    if (!budget_.reserve(size_)) {
      return SendOutcome::kBackpressure;
    }
    if (threadsafe_) {
      thread_local std::vector<std::byte> scratch;
      scratch.resize(size_);
      encodeMessage(scratch.data(), size_, nowNs(), next_seq);
      // Takes the bufferevent's lock, copies, and schedules the write on the loop.
      bufferevent_write(bev_.get(), scratch.data(), size_);
      return SendOutcome::kOk;
    }
    auto* data = static_cast<std::byte*>(std::malloc(size_));
    encodeMessage(data, size_, nowNs(), next_seq);
    loop_.post({this, data, size_});
    return SendOutcome::kOk;
  }

  // Loop thread.
  void deliver(const PostItem& item) noexcept {
    if (closed.load(std::memory_order_relaxed)) {
      std::free(item.data);
      budget_.release(item.size);
      return;
    }
    evbuffer* output = bufferevent_get_output(bev_.get());
    if (item.size <= kCopyThreshold) {
      evbuffer_add(output, item.data, item.size);
      std::free(item.data);
    } else {
      evbuffer_add_reference(output, item.data, item.size, &onReferenceDoneCb, nullptr);
    }
  }
  bufferevent* bev() const noexcept { return bev_.get(); }
  LibeventLoop& loop() const noexcept { return loop_; }

  /// raw-loop, loop thread: encodes frames in place into the output until it
  /// holds a window's worth; returns how many.
  std::uint64_t fill() noexcept {
    evbuffer* output = bufferevent_get_output(bev_.get());
    std::uint64_t count = 0;
    while (evbuffer_get_length(output) < high_) {
      evbuffer_iovec vec;
      if (evbuffer_reserve_space(output, static_cast<ev_ssize_t>(size_), &vec, 1) != 1) {
        break;  // out of memory: the write callback tries again
      }
      encodeMessage(static_cast<std::byte*>(vec.iov_base), size_, nowNs(), next_seq++);
      vec.iov_len = size_;
      evbuffer_commit_space(output, &vec, 1);
      ++count;
    }
    return count;
  }

  static void onOutputCb(evbuffer*, const evbuffer_cb_info* info, void* ctx) {
    auto* slot = static_cast<BevSlot*>(ctx);
    if (info->n_deleted > 0 && slot->budget_.release(info->n_deleted)) {
      slot->announceWritable();
    }
  }
  static void onEventCb(bufferevent* bev, short events, void* ctx) {
    if ((events & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) == 0) {
      return;
    }
    // Keep the bufferevent: a producer may be writing into it right now.
    // It is freed once the loops and the producers are gone.
    bufferevent_disable(bev, EV_READ | EV_WRITE);
    auto* slot = static_cast<BevSlot*>(ctx);
    slot->registry_.markClosed(*slot);
  }
  static void onReferenceDoneCb(const void* data, std::size_t, void*) {
    std::free(const_cast<void*>(data));
  }

 private:
  LibeventLoop& loop_;
  SlotRegistry& registry_;
  BufferEventPtr bev_;  // freed after the loops stopped (producers may still hold the slot)
  SendBudget budget_;
  const std::size_t size_;
  const std::size_t high_;
  const bool threadsafe_;
};

void LibeventLoop::onRunCb(evutil_socket_t, short, void* ctx) {
  auto* loop = static_cast<LibeventLoop*>(ctx);
  loop->queue.takeAll(loop->running);
  for (const PostItem& item : loop->running) {
    item.slot->deliver(item);
  }
}

class LibeventStreamMode final : public StreamMode {
 public:
  LibeventStreamMode(const StreamConfig& config, SlotRegistry& registry)
      : config_(config), registry_(registry) {}
  ~LibeventStreamMode() override { stop(); }

  std::uint16_t start() override;
  void stop() override;
  std::uint64_t loopMessages() const override { return loop_sent_.load(); }

  // Loop thread.
  void accept(LibeventLoop& loop, evutil_socket_t fd);

 private:
  static void onAcceptCb(evconnlistener*, evutil_socket_t fd, sockaddr*, int, void* ctx) {
    auto* loop = static_cast<LibeventLoop*>(ctx);
    loop->mode->accept(*loop, fd);
  }
  static void onReadCb(bufferevent* bev, void*) {
    evbuffer* input = bufferevent_get_input(bev);
    evbuffer_drain(input, evbuffer_get_length(input));
  }
  // raw-loop: the output drained to the low watermark.
  static void onRawWriteCb(bufferevent*, void* ctx) {
    auto* slot = static_cast<BevSlot*>(ctx);
    slot->loop().mode->loop_sent_.fetch_add(slot->fill(), std::memory_order_relaxed);
  }
  bool rawLoop() const noexcept { return config_.mode == "raw-loop"; }

  const StreamConfig& config_;
  SlotRegistry& registry_;
  std::vector<std::unique_ptr<LibeventLoop>> loops_;
  std::mutex slots_mutex_;
  std::vector<std::shared_ptr<BevSlot>> slots_;  // every connection ever opened
  std::atomic<std::uint64_t> loop_sent_{0};      // raw-loop
  bool stopped_ = false;
};

std::uint16_t LibeventStreamMode::start() {
  std::uint16_t port = config_.port;
  for (unsigned i = 0; i < config_.loops; ++i) {
    auto loop = std::make_unique<LibeventLoop>(!rawLoop());
    loop->mode = this;
    loop->run_event = makeEvent(loop->thread.base(), -1, 0, &LibeventLoop::onRunCb, loop.get());
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    // REUSEABLE_PORT: one listening socket per loop on the same port, as spool does.
    loop->listener.reset(evconnlistener_new_bind(
        loop->thread.base(), &onAcceptCb, loop.get(),
        LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_REUSEABLE_PORT, 1024,
        reinterpret_cast<sockaddr*>(&addr), sizeof(addr)));
    if (!loop->listener) {
      std::fprintf(stderr, "stream_server: cannot listen on 127.0.0.1:%u\n", port);
      std::exit(1);
    }
    socklen_t length = sizeof(addr);
    getsockname(evconnlistener_get_fd(loop->listener.get()), reinterpret_cast<sockaddr*>(&addr), &length);
    port = ntohs(addr.sin_port);
    loops_.push_back(std::move(loop));
  }
  for (auto& loop : loops_) {
    loop->thread.start();
  }
  return port;
}

void LibeventStreamMode::accept(LibeventLoop& loop, evutil_socket_t fd) {
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  int options = BEV_OPT_CLOSE_ON_FREE;  // the bufferevent owns the socket
  if (config_.mode == "threadsafe") {
    options |= BEV_OPT_THREADSAFE;  // producers write into it from their threads
  }
  BufferEventPtr bev(bufferevent_socket_new(loop.thread.base(), fd, options));
  if (!bev) {
    evutil_closesocket(fd);
    return;
  }
  bufferevent_set_max_single_write(bev.get(), kMaxSingleWrite);
  auto slot = std::make_shared<BevSlot>(loop, std::move(bev), config_, registry_);
  if (rawLoop()) {
    bufferevent_setcb(slot->bev(), &onReadCb, &onRawWriteCb, &BevSlot::onEventCb, slot.get());
    bufferevent_setwatermark(slot->bev(), EV_WRITE, config_.lowWatermark(), 0);
  } else {
    bufferevent_setcb(slot->bev(), &onReadCb, nullptr, &BevSlot::onEventCb, slot.get());
    evbuffer_add_cb(bufferevent_get_output(slot->bev()), &BevSlot::onOutputCb, slot.get());
  }
  bufferevent_enable(slot->bev(), EV_READ | EV_WRITE);
  if (rawLoop()) {
    loop_sent_.fetch_add(slot->fill(), std::memory_order_relaxed);
  }
  {
    std::lock_guard lock(slots_mutex_);
    slots_.push_back(slot);
  }
  registry_.add(slot);
}

void LibeventStreamMode::stop() {
  if (stopped_) {
    return;
  }
  stopped_ = true;
  for (auto& loop : loops_) {
    loop->thread.stop();
  }
  for (auto& loop : loops_) {
    loop->queue.dropAll([](const PostItem& item) { std::free(item.data); });
    loop->listener.reset();
  }
  slots_.clear();  // frees the bufferevents (no loop runs any more)
}

}  // namespace

std::unique_ptr<StreamMode> makeLibeventStreamMode(const StreamConfig& config, SlotRegistry& registry) {
  return std::make_unique<LibeventStreamMode>(config, registry);
}

}  // namespace spool::bench
