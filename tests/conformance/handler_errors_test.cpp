// A handler callback that throws aborts only its own connection, with
// kHandlerError and the exception's message; the loop and every other
// connection go on. onClose() is the exception: the connection is already
// closed, so what it throws is logged and dropped.
#include <catch2/catch.hpp>

#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "spool/log.h"
#include "test_support.h"

using namespace spool;
using namespace spool::test;

namespace {

/// Where the first accepted connection's handler throws.
enum class ThrowIn { kNothing, kOnOpen, kOnData, kOnWritable, kOnPeerShutdown, kOnClose };

const char* callbackName(ThrowIn where) {
  switch (where) {
    case ThrowIn::kOnOpen: return "onOpen";
    case ThrowIn::kOnData: return "onData";
    case ThrowIn::kOnWritable: return "onWritable";
    case ThrowIn::kOnPeerShutdown: return "onPeerShutdown";
    case ThrowIn::kOnClose: return "onClose";
    case ThrowIn::kNothing: break;
  }
  return "nothing";
}

/// Echoes (a RecordingHandler), except that it throws from `where`. For
/// onWritable it first floods the connection until a send is refused, when
/// the peer sends "flood"; for onData, when the peer sends "throw in onData".
class ThrowingHandler final : public RecordingHandler {
 public:
  ThrowingHandler(RecordingPtr record, ThrowIn where)
      : RecordingHandler(std::move(record), /*echo=*/true), where_(where) {}

  void onOpen(Connection& conn) override {
    RecordingHandler::onOpen(conn);
    maybeThrow(ThrowIn::kOnOpen);
  }
  void onData(Connection& conn, InputBuffer& input) override {
    if (where_ == ThrowIn::kOnData && input.find("throw in onData", input.size())) {
      throw std::runtime_error("the handler gave up");
    }
    if (where_ == ThrowIn::kOnWritable && input.find("flood", input.size())) {
      input.consume(input.size());
      const std::string chunk(4096, 'f');
      // Bounded: the budget (the listener's watermarks) refuses long before.
      for (int i = 0; i < 10'000 && conn.send(std::string_view(chunk)) == SendResult::kOk; ++i) {
      }
      return;
    }
    RecordingHandler::onData(conn, input);
  }
  void onWritable(Connection& conn) override {
    RecordingHandler::onWritable(conn);
    maybeThrow(ThrowIn::kOnWritable);
  }
  bool onPeerShutdown(Connection&) override {
    maybeThrow(ThrowIn::kOnPeerShutdown);
    return false;
  }
  void onClose(Connection& conn, const CloseReason& reason) override {
    RecordingHandler::onClose(conn, reason);
    maybeThrow(ThrowIn::kOnClose);
  }

 private:
  void maybeThrow(ThrowIn here) const {
    if (where_ == here) {
      throw std::runtime_error("the handler gave up");
    }
  }

  ThrowIn where_;
};

/// Counts the error lines the transport logs about onClose throwing. The
/// sink may only be replaced while no transport runs: make this before the
/// transport and let it go after (it restores a sink like the default).
class OnCloseThrowLog {
 public:
  OnCloseThrowLog() {
    setLogSink([lines = lines_](LogLevel level, std::string_view line) {
      if (level == LogLevel::kError && line.find("onClose threw") != std::string_view::npos) {
        lines->update([](int& n) { ++n; });
      }
      writeToStderr(line);
    });
  }
  ~OnCloseThrowLog() {
    setLogSink([](LogLevel, std::string_view line) { writeToStderr(line); });
  }
  OnCloseThrowLog(const OnCloseThrowLog&) = delete;
  OnCloseThrowLog& operator=(const OnCloseThrowLog&) = delete;

  Watched<int>& lines() { return *lines_; }

 private:
  static void writeToStderr(std::string_view line) {
    std::fprintf(stderr, "%.*s\n", static_cast<int>(line.size()), line.data());
  }
  std::shared_ptr<Watched<int>> lines_ = std::make_shared<Watched<int>>(0);
};

/// One loop serving a "bad" connection (the first accepted, whose handler
/// throws from `where`) and a "good" one (an echo), both from spool clients.
struct TwoConnections {
  explicit TwoConnections(ThrowIn where, ListenOptions options = serverOptions()) {
    listener = transport->listen(options, [records = records, where] {
      auto record = std::make_shared<Watched<Recording>>();
      bool first = false;
      records->update([&](auto& all) {
        first = all.empty();
        all.push_back(record);
      });
      return std::make_unique<ThrowingHandler>(record, first ? where : ThrowIn::kNothing);
    });
    // Not connectAndWait(): a server that throws in onOpen may end the
    // connection before the client sees it open.
    bad = transport->connect(clientOptions(listener->port()),
                             std::make_unique<RecordingHandler>(bad_record));
    REQUIRE(records->waitUntil([](const auto& all) { return all.size() == 1; }));
    good = connectAndWait(*transport, listener->port(), good_record);
    REQUIRE(records->waitUntil([](const auto& all) { return all.size() == 2; }));
  }

  RecordingPtr badServerSide() { return records->get().front(); }

  /// The good connection still echoes, on the same loop.
  void checkGoodStillEchoes() {
    REQUIRE(good->send("still here") == SendResult::kOk);
    CHECK(good_record->waitUntil([](const Recording& r) { return r.data == "still here"; }));
    CHECK(good->isOpen());
  }

  RunningTransport transport{1};  // one loop: both connections share it
  std::shared_ptr<Watched<std::vector<RecordingPtr>>> records =
      std::make_shared<Watched<std::vector<RecordingPtr>>>();
  ListenerPtr listener;
  RecordingPtr bad_record = std::make_shared<Watched<Recording>>();
  RecordingPtr good_record = std::make_shared<Watched<Recording>>();
  ConnectionPtr bad;
  ConnectionPtr good;
};

}  // namespace

TEST_CASE("a handler that throws aborts only its own connection", "[handler-errors][tls]") {
  const ThrowIn where =
      GENERATE(ThrowIn::kOnOpen, ThrowIn::kOnData, ThrowIn::kOnWritable, ThrowIn::kOnPeerShutdown);
  const std::string name = callbackName(where);
  INFO("throwing in " << name);
  ListenOptions options = serverOptions();
  // A small budget, so that "flood" reaches a refusal (and onWritable) soon.
  options.connection.send_high_watermark = 64 << 10;
  options.connection.send_low_watermark = 16 << 10;
  TwoConnections both(where, options);

  switch (where) {
    case ThrowIn::kOnOpen: break;  // already thrown
    case ThrowIn::kOnData: REQUIRE(both.bad->send("throw in onData") == SendResult::kOk); break;
    case ThrowIn::kOnWritable:
      // The client reads the flood, the backlog falls, onWritable() throws.
      REQUIRE(both.bad->send("flood") == SendResult::kOk);
      break;
    case ThrowIn::kOnPeerShutdown:
      both.bad->close(CloseMode::kGraceful, "the client is done sending");
      break;
    default: FAIL("not a case of this test");
  }
  const RecordingPtr server_side = both.badServerSide();
  REQUIRE(server_side->waitUntil([](const Recording& r) { return r.closed; }));
  const Recording seen = server_side->get();
  CHECK(seen.reason.code == CloseCode::kHandlerError);
  CHECK_THAT(seen.reason.detail,
             Catch::Contains(name + " threw") && Catch::Contains("the handler gave up"));
  CHECK(seen.close_calls == 1);
  if (where == ThrowIn::kOnWritable) {
    CHECK(seen.writable_calls == 1);  // it did get there
  }
  // The client sees the connection go; the other connection still echoes.
  REQUIRE(both.bad_record->waitUntil([](const Recording& r) { return r.closed; }));
  both.checkGoodStillEchoes();
  CHECK(both.records->get().front()->get().close_calls == 1);
}

TEST_CASE("a handler that throws in onClose is logged, and nothing else changes",
          "[handler-errors][tls]") {
  OnCloseThrowLog log;  // before the transport: the sink is not thread-safe
  TwoConnections both(ThrowIn::kOnClose);
  both.bad->close(CloseMode::kGraceful, "the client is done");
  const RecordingPtr server_side = both.badServerSide();
  REQUIRE(server_side->waitUntil([](const Recording& r) { return r.closed; }));
  const Recording seen = server_side->get();
  // The close kept its own reason: the peer closed; onClose came once.
  CHECK(seen.reason.code == CloseCode::kPeerClosed);
  CHECK(seen.close_calls == 1);
  CHECK(log.lines().waitUntil([](int n) { return n == 1; }));
  REQUIRE(both.bad_record->waitUntil([](const Recording& r) { return r.closed; }));
  both.checkGoodStillEchoes();
  // The loop still accepts: a third connection opens and echoes.
  auto third_record = std::make_shared<Watched<Recording>>();
  auto third = connectAndWait(*both.transport, both.listener->port(), third_record);
  REQUIRE(third->send("and a new one") == SendResult::kOk);
  CHECK(third_record->waitUntil([](const Recording& r) { return r.data == "and a new one"; }));
  CHECK(log.lines().get() == 1);
}
