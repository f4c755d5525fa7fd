// The stream server's libevent baselines, written the way a careful server
// uses libevent without spool: one event_base per loop, one struct event per
// connection and an output buffer of its own, written with non-blocking
// sendmsg, the write event added only while the kernel refuses bytes
// (ev_conn.h). The modes:
//   raw-loop: no producers and no handoff at all: the loop thread encodes
//             each frame into the buffer it sends from, right before
//             sending it (raw_loop_conn.h). With --tls-cert, the same over
//             TLS: OpenSSL on the socket, an SSL_write per 16 KiB batch of
//             frames. Its base runs without locks. It is the upper bound
//             spool's stream is held to: what a plain libevent server does
//             when nothing crosses a thread.
//   post:     a mutex-protected vector + event_active on empty -> non-empty
//             (Envoy, muduo); the loop appends each message to its
//             connection's output (copied up to spool's copy threshold,
//             referenced above it) and writes every connection it fed at
//             the end of the batch.
//   locked:   the old libevent way, a thread-safe output buffer per
//             connection: the producer copies each message into it under
//             the connection's lock and, when the loop is neither about to
//             write nor waiting for the kernel, wakes it with event_active
//             (the base's lock; libevent's notify fd while the loop sleeps).
//             The loop writes that output holding the same lock, so a
//             producer waits out the loop's sendmsg on its connection.
// post and locked keep the same window as spool mode (send_budget.h); their
// bases run with libevent's locks (the producers call event_active).
#include <event2/listener.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <vector>

#include "ev_conn.h"
#include "frame.h"
#include "json.h"
#include "loop_thread.h"
#include "output_chain.h"
#include "post_queue.h"
#include "raw_loop_conn.h"
#include "send_budget.h"
#include "stream_mode.h"
#include "usage.h"

namespace spool::bench {
namespace {

// spool's TransportOptions::copy_threshold (its default): post copies
// messages up to this into copy blocks and references larger ones, as
// spool does, so that the two differ in the handoff only.
constexpr std::size_t kCopyThreshold = 2048;

class LibeventStreamMode;
class PostConn;

struct PostItem {
  PostConn* conn;
  std::byte* data;  // malloc'ed message
  std::size_t size;
};

/// One loop: its base, its listening socket and (post mode) its queue.
struct LibeventLoop {
  explicit LibeventLoop(bool locking) : thread(locking) {}
  LoopThread thread;  // declared first: destroyed last
  LibeventStreamMode* mode = nullptr;
  EvListenerPtr listener;
  EvLoopCounters counters;  // loop thread
  // post mode:
  EventPtr run_event;
  PostQueue<PostItem> queue;
  std::vector<PostItem> running;  // loop thread only
  std::vector<PostConn*> fed;     // connections given output by this batch; loop thread only

  void post(const PostItem& item) noexcept {
    if (queue.post(item)) {
      // Takes the event_base lock; writes libevent's notify fd while the loop sleeps.
      event_active(run_event.get(), EV_TIMEOUT, 0);
    }
  }
  static void onRunCb(evutil_socket_t, short, void* ctx);
};

class PostConn final : public EvConn {
 public:
  PostConn(LibeventLoop& loop, int fd, const StreamConfig& config, SlotRegistry& registry)
      : EvConn(loop.thread.base(), fd, registry, loop.counters), loop_(loop),
        budget_(config.highWatermark(), config.lowWatermark()), size_(config.msg_size) {}

  // Producer.
  SendOutcome send() noexcept override {
    if (closed.load(std::memory_order_acquire)) {
      return SendOutcome::kClosed;
    }
    if (!budget_.reserve(size_)) {
      return SendOutcome::kBackpressure;
    }
    auto* data = static_cast<std::byte*>(std::malloc(size_));
    if (data == nullptr) {
      budget_.release(size_);
      return SendOutcome::kBackpressure;
    }
    encodeMessage(data, size_, nowNs(), next_seq);
    loop_.post({this, data, size_});
    return SendOutcome::kOk;
  }

  // Loop thread.
  void deliver(const PostItem& item) noexcept {
    if (!isOpen()) {
      std::free(item.data);
      budget_.release(item.size);
      return;
    }
    if (item.size <= kCopyThreshold) {
      output_.copy(item.data, item.size);
      std::free(item.data);
    } else {
      output_.reference(item.data, item.size);  // freed once written
    }
    if (!fed_) {
      fed_ = true;
      loop_.fed.push_back(this);
    }
  }
  /// The batch is delivered: write what it brought, unless the connection
  /// waits for the kernel anyway (its write event will).
  void flushFed() noexcept {
    fed_ = false;
    if (isOpen() && !watchingWrite()) {
      flush();
    }
  }

 private:
  void onWritable() noexcept override { flush(); }
  void beforeClose() noexcept override { budget_.release(output_.clear()); }

  void flush() noexcept {
    std::size_t written = 0;
    const WriteResult result = writeChain(output_, written);
    if (written > 0 && budget_.release(written)) {
      announceWritable();
    }
    if (result != WriteResult::kFailed) {
      watch(result == WriteResult::kRefused);
    }
  }

  LibeventLoop& loop_;
  SendBudget budget_;
  const std::size_t size_;
  OutputChain output_;  // loop thread only
  bool fed_ = false;    // in loop_.fed
};

class LockedConn final : public EvConn {
 public:
  LockedConn(LibeventLoop& loop, int fd, const StreamConfig& config, SlotRegistry& registry)
      : EvConn(loop.thread.base(), fd, registry, loop.counters),
        budget_(config.highWatermark(), config.lowWatermark()), size_(config.msg_size) {}

  // Producer.
  SendOutcome send() noexcept override {
    if (closed.load(std::memory_order_acquire)) {
      return SendOutcome::kClosed;
    }
    if (!budget_.reserve(size_)) {
      return SendOutcome::kBackpressure;
    }
    thread_local std::vector<std::byte> scratch;
    scratch.resize(size_);
    encodeMessage(scratch.data(), size_, nowNs(), next_seq);
    std::lock_guard lock(mutex_);
    if (!isOpen()) {
      budget_.release(size_);
      return SendOutcome::kClosed;
    }
    output_.copy(scratch.data(), size_);  // every message copied, whatever its size
    if (!wake_pending_ && !watchingWrite()) {
      // Under the connection's lock, so that the loop cannot be re-assigning
      // the event meanwhile (it changes it only under this lock too).
      wake_pending_ = true;
      activate(EV_WRITE);
    }
    return SendOutcome::kOk;
  }

 private:
  // Every loop path takes the connection's lock first, so close() (and
  // beforeClose()) always run under it.
  void onReadable() noexcept override {
    std::lock_guard lock(mutex_);
    EvConn::onReadable();
  }
  void onWritable() noexcept override {
    std::size_t written = 0;
    {
      std::lock_guard lock(mutex_);
      wake_pending_ = false;
      const WriteResult result = writeChain(output_, written);  // producers wait meanwhile
      if (result != WriteResult::kFailed) {
        watch(result == WriteResult::kRefused);
      }
    }
    if (written > 0 && budget_.release(written)) {
      announceWritable();
    }
  }
  void beforeClose() noexcept override { budget_.release(output_.clear()); }

  SendBudget budget_;
  const std::size_t size_;
  std::mutex mutex_;         // output_, wake_pending_, and the event's interest and socket
  OutputChain output_;
  bool wake_pending_ = false;  // a producer activated the event; the loop has not run it yet
};

void LibeventLoop::onRunCb(evutil_socket_t, short, void* ctx) {
  auto* loop = static_cast<LibeventLoop*>(ctx);
  loop->queue.takeAll(loop->running);
  for (const PostItem& item : loop->running) {
    item.conn->deliver(item);
  }
  for (PostConn* conn : loop->fed) {
    conn->flushFed();
  }
  loop->fed.clear();
}

class LibeventStreamMode final : public StreamMode {
 public:
  LibeventStreamMode(const StreamConfig& config, SlotRegistry& registry)
      : config_(config), registry_(registry) {}
  ~LibeventStreamMode() override { stop(); }

  std::uint16_t start() override;
  void stop() override;
  std::uint64_t loopMessages() const override { return totals_.frames; }
  std::string statsJson() const override;

  // Loop thread.
  void accept(LibeventLoop& loop, evutil_socket_t fd);

 private:
  static void onAcceptCb(evconnlistener*, evutil_socket_t fd, sockaddr*, int, void* ctx) {
    auto* loop = static_cast<LibeventLoop*>(ctx);
    loop->mode->accept(*loop, fd);
  }
  bool rawLoop() const noexcept { return config_.mode == "raw-loop"; }

  const StreamConfig& config_;
  SlotRegistry& registry_;
  RawSslCtxPtr tls_;  // raw-loop with --tls-cert
  std::vector<std::unique_ptr<LibeventLoop>> loops_;
  std::mutex conns_mutex_;
  std::vector<std::shared_ptr<EvConn>> conns_;  // every connection ever opened
  EvLoopCounters totals_;                       // summed once the loops stopped
  bool stopped_ = false;
};

std::uint16_t LibeventStreamMode::start() {
  if (config_.tls()) {
    tls_ = makeRawTlsContext(config_.tls_cert, config_.tls_key);  // raw-loop only (main checks)
  }
  std::uint16_t port = config_.port;
  for (unsigned i = 0; i < config_.loops; ++i) {
    auto loop = std::make_unique<LibeventLoop>(!rawLoop());
    loop->mode = this;
    if (config_.mode == "post") {
      loop->run_event = makeEvent(loop->thread.base(), -1, 0, &LibeventLoop::onRunCb, loop.get());
    }
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    // REUSEABLE_PORT: one listening socket per loop on the same port, as
    // spool does. Accepted sockets come non-blocking (libevent's default).
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
  std::shared_ptr<EvConn> conn;  // owns the socket from here
  if (rawLoop() && tls_) {
    conn = std::make_shared<RawTlsConn>(loop.thread.base(), fd, registry_, loop.counters, config_, tls_.get());
  } else if (rawLoop()) {
    conn = std::make_shared<RawConn>(loop.thread.base(), fd, registry_, loop.counters, config_);
  } else if (config_.mode == "post") {
    conn = std::make_shared<PostConn>(loop, fd, config_, registry_);
  } else {
    conn = std::make_shared<LockedConn>(loop, fd, config_, registry_);
  }
  conn->open();  // its event exists before any producer can see it
  {
    std::lock_guard lock(conns_mutex_);
    conns_.push_back(conn);
  }
  registry_.add(conn);
  conn->begin();
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
    totals_ += loop->counters;
  }
  // The registry may outlive this mode and still hold open connections:
  // their sockets and events go now, while the bases exist.
  for (auto& conn : conns_) {
    conn->release();
  }
  conns_.clear();
}

std::string LibeventStreamMode::statsJson() const {
  JsonObject o;
  o.add("bytes_out", totals_.bytes_out)
      .add("write_calls", totals_.write_calls)
      .add("write_refusals", totals_.write_refusals);
  if (config_.tls()) {
    o.add("tls_handshakes", totals_.tls_handshakes).add("tls_failures", totals_.tls_failures);
  }
  return o.str();
}

}  // namespace

std::unique_ptr<StreamMode> makeLibeventStreamMode(const StreamConfig& config, SlotRegistry& registry) {
  return std::make_unique<LibeventStreamMode>(config, registry);
}

}  // namespace spool::bench
