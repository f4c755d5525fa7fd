// Reading pauses while a connection's send budget is full
// (ConnectionOptions::pause_reading_while_backlogged): a peer that sends
// requests and never reads the replies cannot make a server take its input
// (and queue work for it) without bound. Once the peer reads, reading
// resumes and every byte it sent arrives.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

#include "test_support.h"

using namespace spool;
using namespace spool::test;

namespace {

constexpr std::size_t kHigh = 64 << 10;
constexpr std::size_t kLow = 16 << 10;
constexpr std::size_t kAmplify = 64;  // reply bytes per request byte
constexpr std::size_t kBlock = 64 << 10;

/// One shared block that replies and requests are cut from (zero-copy, never freed).
const std::string& block() {
  static const std::string bytes = patternBytes(kBlock, 17);
  return bytes;
}

void keep(void*, const std::byte*, std::size_t) noexcept {}

Buffer blockPayload(std::size_t size) {
  return Buffer::wrap(block().data(), std::min(size, kBlock), &keep, nullptr);
}

/// Sends `bytes` of reply in blocks; what the budget refuses is dropped
/// (this server does not care about its replies, only about its input).
void reply(Connection& conn, std::size_t bytes) {
  while (bytes > 0) {
    const std::size_t n = std::min(bytes, kBlock);
    if (conn.send(blockPayload(n)) != SendResult::kOk) {
      return;
    }
    bytes -= n;
  }
}

/// What the server saw.
struct Seen {
  std::uint64_t consumed = 0;
  std::size_t onData_over_high = 0;  // onData() entered with the backlog at the high watermark
  std::size_t largest_input = 0;     // the most unconsumed input one onData() saw
};

/// Replies from a thread of its own, as a worker pool would.
class ReplyThread {
 public:
  ReplyThread()
      : thread_([this](std::stop_token stop) {
          std::unique_lock lock(mutex_);
          for (;;) {
            cv_.wait(lock, stop, [this] { return pending_ > 0; });
            if (stop.stop_requested()) {
              return;
            }
            const std::size_t bytes = std::exchange(pending_, 0);
            const ConnectionPtr conn = conn_;
            lock.unlock();
            reply(*conn, bytes);
            lock.lock();
          }
        }) {}
  void post(Connection& conn, std::size_t bytes) {
    {
      std::lock_guard lock(mutex_);
      conn_ = conn.ptr();
      pending_ += bytes;
    }
    cv_.notify_one();
  }
  void drop() {
    std::lock_guard lock(mutex_);
    conn_.reset();
    pending_ = 0;
  }

 private:
  std::mutex mutex_;
  std::condition_variable_any cv_;
  std::size_t pending_ = 0;
  ConnectionPtr conn_;
  std::jthread thread_;  // last: stops before the members it uses go
};

struct ServerState {
  std::atomic<bool> amplify{true};
  std::atomic<bool> from_thread{false};
  Watched<Seen> seen;
  ReplyThread replies;
};

/// Answers every request byte with kAmplify reply bytes while amplifying,
/// on the loop thread or through ReplyThread.
class Amplifier final : public ConnectionHandler {
 public:
  explicit Amplifier(std::shared_ptr<ServerState> state) : state_(std::move(state)) {}
  void onData(Connection& conn, InputBuffer& input) override {
    const std::size_t n = input.size();
    const bool over = conn.counters().backlog >= kHigh;
    input.consume(n);
    state_->seen.update([&](Seen& s) {
      s.consumed += n;
      s.onData_over_high += over ? 1 : 0;
      s.largest_input = std::max(s.largest_input, n);
    });
    if (!state_->amplify.load()) {
      return;
    }
    if (state_->from_thread.load()) {
      state_->replies.post(conn, n * kAmplify);
    } else {
      reply(conn, n * kAmplify);
    }
  }

 private:
  std::shared_ptr<ServerState> state_;
};

/// A client that reads nothing until resumed, then counts what arrives;
/// counts onWritable() too.
class LateReader final : public ConnectionHandler {
 public:
  struct Shared {
    Watched<std::uint64_t> received;
    Watched<int> writable;
  };
  explicit LateReader(std::shared_ptr<Shared> shared) : shared_(std::move(shared)) {}
  void onOpen(Connection& conn) override { conn.pauseReading(); }
  void onData(Connection&, InputBuffer& input) override {
    const std::size_t n = input.size();
    input.consume(n);
    shared_->received.update([&](std::uint64_t& r) { r += n; });
  }
  void onWritable(Connection&) override {
    shared_->writable.update([](int& w) { ++w; });
  }

 private:
  std::shared_ptr<Shared> shared_;
};

// A refused client send waits this long for onWritable() before the flood
// counts the server as having stopped reading: the end of every flood that
// works, so short; far beyond a loop turn of a server that still reads.
constexpr std::chrono::seconds kStalled{2};

std::uint64_t readPauses(Transport& transport) {
  return total(transport.stats()).read_pauses_backlog;
}

bool waitForPauses(Transport& server, std::uint64_t at_least) {
  const auto deadline = std::chrono::steady_clock::now() + kWaitLimit;
  // The counter is the server loop's; poll it through the stats snapshot,
  // waiting on the loop's own progress rather than a timer.
  while (readPauses(server) < at_least) {
    if (std::chrono::steady_clock::now() >= deadline) {
      return false;
    }
    std::this_thread::yield();
  }
  return true;
}

struct Run {
  std::uint64_t sent = 0;    // bytes the client's sends accepted
  std::uint64_t pauses = 0;  // the server's read_pauses_backlog
  Seen stalled;              // what the server saw before the client read anything
  Seen end;                  // ... and after everything arrived
};

/// The client sends up to `attempt` bytes without reading (stopping once its
/// budget stays full: the server no longer takes its bytes), then reads
/// everything, until the server has consumed all it sent.
Run floodThenRead(bool pause_option, bool from_thread, std::uint64_t attempt) {
  auto state = std::make_shared<ServerState>();
  state->from_thread = from_thread;
  RunningTransport server(1);
  RunningTransport client(1);
  ListenOptions listen = serverOptions();
  listen.connection.send_high_watermark = kHigh;
  listen.connection.send_low_watermark = kLow;
  listen.connection.pause_reading_while_backlogged = pause_option;
  auto listener = server->listen(listen, [state] { return std::make_unique<Amplifier>(state); });

  auto client_side = std::make_shared<LateReader::Shared>();
  ConnectOptions connect = clientOptions(listener->port());
  ConnectionPtr conn = client->connect(connect, std::make_unique<LateReader>(client_side));

  Run run;
  const auto deadline = std::chrono::steady_clock::now() + kWaitLimit;
  while (run.sent < attempt && std::chrono::steady_clock::now() < deadline) {
    const int writable = client_side->writable.get();
    const SendResult result = conn->send(blockPayload(kBlock));
    if (result == SendResult::kOk) {
      run.sent += kBlock;
    } else if (result == SendResult::kClosed ||
               !client_side->writable.waitUntil([&](int w) { return w != writable; }, kStalled)) {
      break;  // the client's budget stays full: the server stopped taking our bytes
    }
  }
  if (pause_option) {
    CHECK(waitForPauses(*server, 1));
  }
  run.stalled = state->seen.get();
  run.pauses = readPauses(*server);
  INFO("the client sent " << run.sent << " bytes; before it read, the server consumed "
                          << run.stalled.consumed << " and paused " << run.pauses << " times");

  state->amplify = false;  // no new replies: let the stream end
  conn->runInLoop([conn] { conn->resumeReading(); });
  CHECK(state->seen.waitUntil([&](const Seen& s) { return s.consumed == run.sent; }));
  run.end = state->seen.get();
  state->replies.drop();
  conn->close(CloseMode::kAbort);
  return run;
}

}  // namespace

TEST_CASE("reading pauses while the send budget is full, and resumes when it drains",
          "[conformance][backpressure][read-pause][tls]") {
  SECTION("replies sent on the loop thread: onData never runs with the budget full") {
    const Run run = floodThenRead(true, false, 64u << 20);
    CHECK(run.pauses >= 1);
    CHECK(run.end.onData_over_high == 0);
    // At most a read or two of input past the pause at once.
    CHECK(run.end.largest_input <= 256u << 10);
    CHECK(run.end.consumed == run.sent);  // nothing lost
  }
  SECTION("replies sent from another thread: the server stops taking input") {
    // The loop sees another thread's replies only when they are sent, so
    // how much it reads first depends on how far that thread lags (tens of
    // MiB on 2 loaded cores); what must hold is that it stops for good
    // while the client reads nothing. Without the pause the client's 256
    // MiB all go in.
    constexpr std::uint64_t kAttempt = 256u << 20;
    const Run run = floodThenRead(true, true, kAttempt);
    CHECK(run.pauses >= 1);
    CHECK(run.sent < kAttempt);
    CHECK(run.end.largest_input <= 256u << 10);
    CHECK(run.end.consumed == run.sent);
  }
}

TEST_CASE("pause_reading_while_backlogged = false: the server reads on with a full budget",
          "[conformance][backpressure][read-pause]") {
  const Run run = floodThenRead(false, false, 16u << 20);
  CHECK(run.pauses == 0);
  CHECK(run.end.onData_over_high > 0);
  CHECK(run.end.consumed == run.sent);
}
