// ConnectionBase's close state machine and read-pause rules, driven through a
// fake backend: no sockets, no event library. The test thread is the loop
// thread, deferred work runs only when the test says so, and the fake records
// every hook core calls, so each transition can be checked call by call.
#include "connection_base.h"

#include <catch2/catch.hpp>

#include <cerrno>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "fake_loop.h"
#include "loop_core.h"

using spool::Buffer;
using spool::CloseCode;
using spool::CloseMode;
using spool::CloseReason;
using spool::Connection;
using spool::ConnectionHandler;
using spool::ConnectionOptions;
using spool::InputBuffer;
using spool::SendResult;
using spool::core::ConnectionBase;
using spool::core::LoopCore;
using spool::test::FakeLoop;
using Calls = std::vector<std::string>;

namespace {

/// A backend that moves no bytes: it records each hook core calls, keeps a
/// count of "output" bytes, and makes the calls a real backend makes
/// (startLinger() sets kLingering, as both backends do today).
class FakeConnection final : public ConnectionBase {
 public:
  static std::shared_ptr<FakeConnection> make(std::shared_ptr<FakeLoop> loop,
                                              spool::HandlerPtr handler,
                                              const ConnectionOptions& options) {
    return adopt(new FakeConnection(std::move(loop), std::move(handler), options));
  }

  Calls takeCalls() { return std::exchange(calls_, {}); }
  [[nodiscard]] std::size_t output() const noexcept { return output_; }
  /// aborting() as releaseIo() saw it (reset instead of a clean close).
  [[nodiscard]] std::optional<bool> releasedWithAbort() const noexcept {
    return released_with_abort_;
  }
  void beginConnecting() noexcept { markConnecting(); }

  // The calls a backend makes into core, made public for the test.
  using ConnectionBase::closeAfterQueued;
  using ConnectionBase::deliverInput;
  using ConnectionBase::fail;
  using ConnectionBase::failBeforeOpen;
  using ConnectionBase::markOpen;
  using ConnectionBase::onBytesWritten;
  using ConnectionBase::onPeerEof;
  using ConnectionBase::onWatchdogTick;
  using ConnectionBase::readingPaused;
  using ConnectionBase::startLinger;

  void deliver(spool::detail::BufferBlock* block) noexcept override {
    calls_.emplace_back("deliver");
    if (state() != State::kOpen && state() != State::kConnecting) {
      dropQueued(block);
      return;
    }
    output_ += block->size;
    countMessage();
    spool::detail::BufferBlock::destroy(block);
  }
  void commitOutput() noexcept override { calls_.emplace_back("commitOutput"); }
  void startFlush() override { calls_.emplace_back("startFlush"); }
  void startLinger() override {
    calls_.emplace_back("startLinger");
    markLingering();
    if (peerEof()) {
      scheduleFinish();
    }
  }
  void stopReading() noexcept override { calls_.emplace_back("stopReading"); }
  void restartReading() override { calls_.emplace_back("restartReading"); }
  void deliverBufferedInput() override {
    calls_.emplace_back("deliverBufferedInput");
    if (held_input_ != nullptr) {
      deliverInput(*held_input_);
    }
  }
  /// What the fake backend holds when reading stops (deliverBufferedInput).
  void holdInput(InputBuffer* input) noexcept { held_input_ = input; }
  void stopIo() noexcept override { calls_.emplace_back("stopIo"); }
  std::size_t releaseIo() noexcept override {
    calls_.emplace_back("releaseIo");
    released_with_abort_ = aborting();
    return std::exchange(output_, 0);
  }

 private:
  FakeConnection(std::shared_ptr<FakeLoop> loop, spool::HandlerPtr handler,
                 const ConnectionOptions& options)
      : ConnectionBase(std::move(loop), std::move(handler), options, "fake-peer", false) {}

  Calls calls_;
  InputBuffer* held_input_ = nullptr;
  std::size_t output_ = 0;
  std::optional<bool> released_with_abort_;
};

/// What the handler saw; outlives the handler (destroyed after onClose()).
struct Events {
  int opened = 0;
  int data = 0;
  int writable = 0;
  int peer_shutdowns = 0;
  int closed = 0;
  std::optional<CloseReason> reason;
  std::uint64_t open_in_table_at_close = ~0ULL;
  bool keep_sending_after_eof = false;
  std::function<void(Connection&)> on_data;  // runs inside onData()
  const LoopCore* loop = nullptr;
};

class RecordingHandler final : public ConnectionHandler {
 public:
  explicit RecordingHandler(Events& events) : events_(events) {}
  void onOpen(Connection& /*conn*/) override { ++events_.opened; }
  void onData(Connection& conn, InputBuffer& input) override {
    ++events_.data;
    input.consume(input.size());
    if (events_.on_data) {
      events_.on_data(conn);
    }
  }
  void onWritable(Connection& /*conn*/) override { ++events_.writable; }
  bool onPeerShutdown(Connection& /*conn*/) override {
    ++events_.peer_shutdowns;
    return events_.keep_sending_after_eof;
  }
  void onClose(Connection& /*conn*/, const CloseReason& reason) override {
    ++events_.closed;
    events_.reason = reason;
    events_.open_in_table_at_close = events_.loop->stats().connections_open;
  }

 private:
  Events& events_;
};

/// Input as a backend hands it over: bytes in memory.
class FakeInput final : public InputBuffer {
 public:
  explicit FakeInput(std::string bytes) : bytes_(std::move(bytes)) {}
  [[nodiscard]] std::size_t size() const noexcept override { return bytes_.size(); }
  [[nodiscard]] std::span<const std::byte> contiguous(std::size_t n) override {
    return firstChunk().first(n);
  }
  [[nodiscard]] std::span<const std::byte> firstChunk() const noexcept override {
    return {reinterpret_cast<const std::byte*>(bytes_.data()), bytes_.size()};
  }
  [[nodiscard]] std::optional<std::size_t> find(std::string_view needle,
                                                std::size_t limit) const override {
    const auto at = std::string_view(bytes_).substr(0, limit).find(needle);
    return at == std::string_view::npos ? std::nullopt : std::optional<std::size_t>(at);
  }
  void copyOut(std::span<std::byte> dst) const override {
    std::memcpy(dst.data(), bytes_.data(), dst.size());
  }
  void consume(std::size_t n) override { bytes_.erase(0, n); }
  [[nodiscard]] Buffer take(std::size_t n) override {
    Buffer taken = Buffer::copyOf(std::string_view(bytes_).substr(0, n));
    consume(n);
    return taken;
  }
  void wantBytes(std::size_t /*total*/) noexcept override {}

 private:
  std::string bytes_;
};

/// One fake loop and one fake connection on it. Teardown aborts whatever is
/// still open and runs the loop until the connection object is freed.
struct Rig {
  explicit Rig(const ConnectionOptions& options = {})
      : loop(std::make_shared<FakeLoop>()),
        conn(FakeConnection::make(loop, std::make_unique<RecordingHandler>(events), options)) {
    events.loop = loop.get();
  }
  ~Rig() {
    conn->closeInLoop(CloseMode::kAbort, CloseCode::kTransportStopped, "teardown");
    while (loop->runDeferred() > 0) {
    }
    loop->dropTable();
    conn.reset();      // posts the destroy task
    loop->runInbox();  // which frees the connection
  }
  Rig(const Rig&) = delete;
  Rig& operator=(const Rig&) = delete;

  /// Accepted and open, in the loop's table, as a backend does it.
  void open() {
    loop->addConnection(conn);
    conn->markOpen();
  }
  SendResult send(std::size_t size) { return conn->send(Buffer::copyOf(std::string(size, 'x'))); }

  Events events;
  std::shared_ptr<FakeLoop> loop;
  std::shared_ptr<FakeConnection> conn;
};

ConnectionOptions backlogOptions(bool pause_while_backlogged) {
  ConnectionOptions options;
  options.send_high_watermark = 100;
  options.send_low_watermark = 10;
  options.pause_reading_while_backlogged = pause_while_backlogged;
  return options;
}

}  // namespace

TEST_CASE("open, send, graceful close: flush, linger, peer EOF, then onClose once on a later turn",
          "[core][unit]") {
  Rig rig;
  rig.open();
  CHECK(rig.events.opened == 1);
  CHECK(rig.conn->isOpen());
  CHECK(rig.loop->stats().connections_open == 1);

  // On the loop thread with an empty inbox, a send goes straight to deliver().
  CHECK(rig.send(5) == SendResult::kOk);
  CHECK(rig.conn->takeCalls() == Calls{"deliver"});
  CHECK(rig.conn->output() == 5);
  CHECK(rig.conn->counters().backlog == 5);

  rig.conn->close(CloseMode::kGraceful, "bye");
  CHECK(rig.conn->takeCalls() == Calls{"commitOutput", "startFlush"});
  CHECK_FALSE(rig.conn->isOpen());

  // The backend writes the output, then (empty) calls startLinger().
  rig.conn->onBytesWritten(5);
  CHECK(rig.conn->counters().backlog == 0);
  rig.conn->startLinger();
  CHECK(rig.conn->takeCalls() == Calls{"startLinger"});
  CHECK(rig.events.closed == 0);

  // The peer's EOF ends the linger: I/O stops now, the rest on a later turn.
  rig.conn->onPeerEof();
  CHECK(rig.events.peer_shutdowns == 0);  // only while open
  CHECK(rig.conn->takeCalls() == Calls{"commitOutput", "stopIo"});
  CHECK(rig.events.closed == 0);

  CHECK(rig.loop->runDeferred() == 1);
  CHECK(rig.conn->takeCalls() == Calls{"releaseIo"});
  CHECK(rig.conn->releasedWithAbort() == false);
  REQUIRE(rig.events.closed == 1);
  CHECK(rig.events.reason->code == CloseCode::kLocalClose);
  CHECK(rig.events.reason->detail == "bye");
  CHECK(rig.events.open_in_table_at_close == 0);  // left the table before onClose

  // Nothing after the close reaches the backend or the handler again.
  rig.conn->onPeerEof();
  rig.conn->fail(CloseCode::kIoError, ECONNRESET, "late");
  rig.conn->close(CloseMode::kAbort, "late");
  CHECK(rig.loop->runDeferred() == 0);
  CHECK(rig.conn->takeCalls().empty());
  CHECK(rig.events.closed == 1);
  CHECK(rig.events.reason->code == CloseCode::kLocalClose);
}

TEST_CASE("abort: stops I/O at once, releases with a reset, onClose once with kLocalAbort",
          "[core][unit]") {
  Rig rig;
  rig.open();
  CHECK(rig.send(7) == SendResult::kOk);
  rig.conn->takeCalls();

  rig.conn->close(CloseMode::kAbort, "now");
  CHECK(rig.conn->takeCalls() == Calls{"commitOutput", "commitOutput", "stopIo"});
  CHECK_FALSE(rig.conn->isOpen());
  CHECK(rig.events.closed == 0);

  CHECK(rig.loop->runDeferred() == 1);
  CHECK(rig.conn->takeCalls() == Calls{"releaseIo"});
  CHECK(rig.conn->releasedWithAbort() == true);
  // What releaseIo() said was never written leaves the backlog.
  CHECK(rig.conn->counters().backlog == 0);
  REQUIRE(rig.events.closed == 1);
  CHECK(rig.events.reason->code == CloseCode::kLocalAbort);
  CHECK(rig.events.reason->detail == "now");
  CHECK(rig.loop->runDeferred() == 0);
  CHECK(rig.events.closed == 1);
}

TEST_CASE("a send after close returns kClosed and reaches no backend", "[core][unit]") {
  Rig rig;
  rig.open();
  rig.conn->close(CloseMode::kGraceful, {});
  rig.conn->takeCalls();
  CHECK(rig.send(3) == SendResult::kClosed);
  CHECK(rig.conn->takeCalls().empty());
  CHECK(rig.conn->counters().backlog == 0);
}

TEST_CASE("close twice: the first close decides", "[core][unit]") {
  SECTION("graceful, then abort") {
    Rig rig;
    rig.open();
    rig.conn->close(CloseMode::kGraceful, "first");
    rig.conn->close(CloseMode::kAbort, "second");
    CHECK(rig.conn->takeCalls() ==
          Calls{"commitOutput", "startFlush"});  // no stopIo: still flushing
    rig.conn->startLinger();
    rig.conn->onPeerEof();
    rig.loop->runDeferred();
    CHECK(rig.conn->releasedWithAbort() == false);
    REQUIRE(rig.events.closed == 1);
    CHECK(rig.events.reason->code == CloseCode::kLocalClose);
    CHECK(rig.events.reason->detail == "first");
  }
  SECTION("abort, then graceful") {
    Rig rig;
    rig.open();
    rig.conn->close(CloseMode::kAbort, "first");
    rig.conn->close(CloseMode::kGraceful, "second");
    CHECK(rig.conn->takeCalls() == Calls{"commitOutput", "commitOutput", "stopIo"});
    rig.loop->runDeferred();
    CHECK(rig.conn->releasedWithAbort() == true);
    REQUIRE(rig.events.closed == 1);
    CHECK(rig.events.reason->code == CloseCode::kLocalAbort);
    CHECK(rig.events.reason->detail == "first");
  }
}

TEST_CASE("peer EOF while open: onPeerShutdown, then a graceful close behind what was queued",
          "[core][unit]") {
  SECTION("the handler lets it close: flush, and finish as soon as the output is out") {
    Rig rig;
    rig.open();
    rig.conn->onPeerEof();
    CHECK(rig.events.peer_shutdowns == 1);
    CHECK(rig.conn->takeCalls() == Calls{"commitOutput", "startFlush"});
    CHECK_FALSE(rig.conn->isOpen());
    // The output is empty: the backend lingers, and the EOF is already in.
    rig.conn->startLinger();
    CHECK(rig.conn->takeCalls() == Calls{"startLinger", "commitOutput", "stopIo"});
    rig.loop->runDeferred();
    REQUIRE(rig.events.closed == 1);
    CHECK(rig.events.reason->code == CloseCode::kPeerClosed);
    CHECK(rig.conn->releasedWithAbort() == false);
  }
  SECTION("payloads still in the inbox are delivered before the flush starts") {
    Rig rig;
    rig.open();
    rig.loop->runInLoop([](bool /*cancelled*/) {});  // the inbox is not empty
    CHECK(rig.send(4) == SendResult::kOk);           // so this one is queued behind it
    CHECK(rig.conn->takeCalls().empty());
    rig.conn->onPeerEof();
    CHECK(rig.conn->takeCalls().empty());  // the close waits behind the payload
    CHECK_FALSE(rig.conn->isOpen());       // but no new send is accepted
    CHECK(rig.send(1) == SendResult::kClosed);
    rig.loop->runInbox();
    CHECK(rig.conn->takeCalls() == Calls{"deliver", "commitOutput", "startFlush"});
    CHECK(rig.conn->output() == 4);
  }
  SECTION("the handler keeps sending: nothing closes until it does") {
    Rig rig;
    rig.events.keep_sending_after_eof = true;
    rig.open();
    rig.conn->onPeerEof();
    CHECK(rig.events.peer_shutdowns == 1);
    CHECK(rig.conn->takeCalls().empty());
    CHECK(rig.conn->isOpen());
    CHECK(rig.send(2) == SendResult::kOk);
    rig.conn->close(CloseMode::kGraceful, "done");
    CHECK(rig.conn->takeCalls() == Calls{"deliver", "commitOutput", "startFlush"});
    rig.conn->onBytesWritten(2);
    rig.conn->startLinger();  // the EOF came earlier: finish at once
    CHECK(rig.conn->takeCalls() == Calls{"startLinger", "commitOutput", "stopIo"});
    rig.loop->runDeferred();
    REQUIRE(rig.events.closed == 1);
    CHECK(rig.events.reason->code == CloseCode::kLocalClose);
  }
}

TEST_CASE(
    "fail() while flushing: the failure replaces the graceful reason; the first failure stands",
    "[core][unit]") {
  Rig rig;
  rig.open();
  CHECK(rig.send(9) == SendResult::kOk);
  rig.conn->close(CloseMode::kGraceful, "bye");
  rig.conn->takeCalls();

  rig.conn->fail(CloseCode::kIoError, ECONNRESET, "write failed");
  CHECK(rig.conn->takeCalls() == Calls{"commitOutput", "stopIo"});
  rig.conn->fail(CloseCode::kIoError, EPIPE, "second failure");
  rig.conn->onPeerEof();
  CHECK(rig.conn->takeCalls().empty());
  CHECK(rig.events.closed == 0);

  CHECK(rig.loop->runDeferred() == 1);
  CHECK(rig.conn->takeCalls() == Calls{"releaseIo"});
  REQUIRE(rig.events.closed == 1);
  CHECK(rig.events.reason->code == CloseCode::kIoError);
  CHECK(rig.events.reason->sys_error == ECONNRESET);
  CHECK(rig.events.reason->detail == "write failed");
  CHECK(rig.conn->counters().backlog == 0);  // the unwritten 9 bytes were retired
}

TEST_CASE("before open: a connection that never opened closes without the backend's I/O",
          "[core][unit]") {
  SECTION("failBeforeOpen: onClose at once") {
    Rig rig;
    rig.conn->failBeforeOpen(CloseReason{CloseCode::kConnectFailed, ECONNREFUSED, "refused"});
    CHECK(rig.conn->takeCalls().empty());
    REQUIRE(rig.events.closed == 1);
    CHECK(rig.events.reason->code == CloseCode::kConnectFailed);
    CHECK(rig.events.opened == 0);
    CHECK(rig.send(1) == SendResult::kClosed);
  }
  SECTION("peer EOF while connecting fails the connect") {
    Rig rig;
    rig.conn->beginConnecting();
    rig.conn->onPeerEof();
    CHECK(rig.conn->takeCalls() == Calls{"commitOutput", "stopIo"});
    rig.loop->runDeferred();
    REQUIRE(rig.events.closed == 1);
    CHECK(rig.events.reason->code == CloseCode::kConnectFailed);
    CHECK(rig.events.peer_shutdowns == 0);
  }
  SECTION("a graceful close while connecting has nothing to flush") {
    Rig rig;
    rig.conn->beginConnecting();
    rig.conn->close(CloseMode::kGraceful, "never mind");
    CHECK(rig.conn->takeCalls() == Calls{"commitOutput", "commitOutput", "stopIo"});
    rig.loop->runDeferred();
    REQUIRE(rig.events.closed == 1);
    CHECK(rig.events.reason->code == CloseCode::kLocalClose);
  }
}

TEST_CASE("a handler that throws aborts its connection with kHandlerError", "[core][unit]") {
  Rig rig;
  rig.events.on_data = [](Connection& /*conn*/) { throw std::runtime_error("boom"); };
  rig.open();
  FakeInput input("request");
  rig.conn->deliverInput(input);
  CHECK(rig.conn->takeCalls() == Calls{"commitOutput", "commitOutput", "stopIo"});
  rig.loop->runDeferred();
  CHECK(rig.conn->releasedWithAbort() == true);
  REQUIRE(rig.events.closed == 1);
  CHECK(rig.events.reason->code == CloseCode::kHandlerError);
  CHECK(rig.events.reason->detail == "onData threw: boom");
}

TEST_CASE("a refused send earns one onWritable at the low watermark, on a later turn",
          "[core][unit]") {
  Rig rig(backlogOptions(false));
  rig.open();
  CHECK(rig.send(100) == SendResult::kOk);
  CHECK(rig.send(1) == SendResult::kBackpressure);
  rig.conn->onBytesWritten(80);  // 20 left: above the low watermark
  CHECK(rig.loop->runDeferred() == 0);
  rig.conn->onBytesWritten(10);  // 10 left: at it
  CHECK(rig.events.writable == 0);
  CHECK(rig.loop->runDeferred() == 1);
  CHECK(rig.events.writable == 1);
  rig.conn->onBytesWritten(10);
  CHECK(rig.loop->runDeferred() == 0);  // once per refusal episode
  CHECK(rig.events.writable == 1);
}

TEST_CASE("a watchdog tick with no limits configured changes nothing", "[core][unit]") {
  Rig rig;
  rig.open();
  rig.conn->onWatchdogTick();
  CHECK(rig.conn->takeCalls().empty());
  CHECK(rig.conn->isOpen());
}

TEST_CASE(
    "input past the high watermark: reading stops, onData waits, the low watermark restarts it",
    "[core][unit]") {
  Rig rig(backlogOptions(true));
  rig.open();
  CHECK(rig.send(100) == SendResult::kOk);
  rig.conn->takeCalls();

  FakeInput input("request");
  rig.conn->deliverInput(input);
  CHECK(rig.events.data == 0);
  CHECK(input.size() == 7);  // stays buffered
  CHECK(rig.conn->takeCalls() == Calls{"stopReading"});
  CHECK(rig.conn->readingPaused());
  CHECK(rig.loop->stats().read_pauses_backlog == 1);

  rig.conn->deliverInput(input);  // still held: no second stopReading
  CHECK(rig.events.data == 0);
  CHECK(rig.conn->takeCalls().empty());

  rig.conn->onBytesWritten(85);  // 15 left: above the low watermark
  CHECK(rig.conn->takeCalls().empty());
  rig.conn->onBytesWritten(5);  // 10 left: at it
  CHECK(rig.conn->takeCalls() == Calls{"restartReading"});
  CHECK_FALSE(rig.conn->readingPaused());

  rig.conn->deliverInput(input);
  CHECK(rig.events.data == 1);
  CHECK(input.size() == 0);
}

TEST_CASE("replies sent from onData past the high watermark stop the next read", "[core][unit]") {
  Rig rig(backlogOptions(true));
  rig.events.on_data = [&rig](Connection& /*conn*/) { CHECK(rig.send(150) == SendResult::kOk); };
  rig.open();
  FakeInput input("request");
  rig.conn->deliverInput(input);
  CHECK(rig.events.data == 1);
  CHECK(rig.conn->takeCalls() == Calls{"deliver", "stopReading"});
  CHECK(rig.conn->readingPaused());
}

TEST_CASE("without pause_reading_while_backlogged, input is handed over whatever the backlog",
          "[core][unit]") {
  Rig rig(backlogOptions(false));
  rig.open();
  CHECK(rig.send(100) == SendResult::kOk);
  rig.conn->takeCalls();
  FakeInput input("request");
  rig.conn->deliverInput(input);
  CHECK(rig.events.data == 1);
  CHECK(rig.conn->takeCalls().empty());
  CHECK_FALSE(rig.conn->readingPaused());
}

TEST_CASE(
    "the handler's pause and the backlog's hold are independent: reading restarts when neither "
    "holds",
    "[core][unit]") {
  SECTION("handler pauses first; the backlog drains while it is paused") {
    Rig rig(backlogOptions(true));
    rig.open();
    rig.conn->pauseReading();
    CHECK(rig.conn->takeCalls() == Calls{"stopReading"});
    CHECK(rig.send(100) == SendResult::kOk);
    FakeInput input("request");
    rig.conn->deliverInput(input);  // input read before the pause took effect
    CHECK(rig.events.data == 0);
    CHECK(rig.conn->takeCalls() == Calls{"deliver"});  // already stopped: no second stopReading
    rig.conn->onBytesWritten(95);
    CHECK(rig.conn->takeCalls().empty());  // the handler still holds it
    CHECK(rig.conn->readingPaused());
    rig.conn->resumeReading();
    CHECK(rig.conn->takeCalls() == Calls{"restartReading"});
    CHECK_FALSE(rig.conn->readingPaused());
  }
  SECTION("the backlog holds first; the handler pauses and resumes meanwhile") {
    Rig rig(backlogOptions(true));
    rig.open();
    CHECK(rig.send(100) == SendResult::kOk);
    FakeInput input("request");
    rig.conn->deliverInput(input);
    CHECK(rig.conn->takeCalls() == Calls{"deliver", "stopReading"});
    rig.conn->pauseReading();
    CHECK(rig.conn->takeCalls().empty());  // already stopped
    rig.conn->resumeReading();
    CHECK(rig.conn->takeCalls().empty());  // the backlog still holds it
    CHECK(rig.conn->readingPaused());
    rig.conn->onBytesWritten(90);
    CHECK(rig.conn->takeCalls() == Calls{"restartReading"});
    CHECK_FALSE(rig.conn->readingPaused());
  }
  SECTION("resuming without a pause restarts nothing") {
    Rig rig(backlogOptions(true));
    rig.open();
    rig.conn->resumeReading();
    CHECK(rig.conn->takeCalls().empty());
  }
  SECTION("no read hooks once the connection is closing") {
    Rig rig(backlogOptions(true));
    rig.open();
    CHECK(rig.send(100) == SendResult::kOk);
    FakeInput input("request");
    rig.conn->deliverInput(input);
    rig.conn->close(CloseMode::kGraceful, {});
    rig.conn->takeCalls();
    rig.conn->onBytesWritten(100);  // the backlog drains during the flush
    rig.conn->pauseReading();
    rig.conn->resumeReading();
    CHECK(rig.conn->takeCalls().empty());
  }
}

TEST_CASE("the peer's EOF while the backlog holds input: the input reaches onData first",
          "[core][unit]") {
  Rig rig(backlogOptions(true));
  // onData before onPeerShutdown, as a backend that reads the EOF after the bytes would.
  rig.events.on_data = [&rig](Connection& /*conn*/) { CHECK(rig.events.peer_shutdowns == 0); };
  rig.open();
  CHECK(rig.send(100) == SendResult::kOk);
  FakeInput input("last request");
  rig.conn->holdInput(&input);
  rig.conn->deliverInput(input);  // held: the backlog is at the high watermark
  CHECK(rig.events.data == 0);
  rig.conn->takeCalls();

  rig.conn->onPeerEof();
  CHECK(rig.events.data == 1);  // handed over before the EOF
  CHECK(input.size() == 0);
  CHECK(rig.events.peer_shutdowns == 1);
  CHECK(rig.conn->takeCalls() == Calls{"deliverBufferedInput", "commitOutput", "startFlush"});
  CHECK_FALSE(rig.conn->readingPaused());
  rig.conn->onBytesWritten(100);  // the backlog drains: nothing to restart any more
  CHECK(rig.conn->takeCalls().empty());
}
