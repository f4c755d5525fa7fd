// A pipelined burst reaches the handler in one onData: one recv takes up to
// the loop's 64 KiB read buffer (libevent 2.1's evbuffer_read, which the old
// bufferevent path used, took at most 4096 bytes per call).
#include <catch2/catch.hpp>

#include "test_support.h"

using namespace spool;
using namespace spool::test;

namespace {

struct Seen {
  ConnectionPtr conn;
  std::vector<std::size_t> sizes;  // input size at each onData
  std::size_t total = 0;
};

/// Holds reading off until the test resumes it, then records what each
/// onData call was handed.
class PausedRecorder final : public ConnectionHandler {
 public:
  explicit PausedRecorder(std::shared_ptr<Watched<Seen>> seen) : seen_(std::move(seen)) {}
  void onOpen(Connection& conn) override {
    conn.pauseReading();
    seen_->update([&](Seen& s) { s.conn = conn.shared_from_this(); });
  }
  void onData(Connection&, InputBuffer& input) override {
    const std::size_t n = input.size();
    input.consume(n);
    seen_->update([&](Seen& s) {
      s.sizes.push_back(n);
      s.total += n;
    });
  }

 private:
  std::shared_ptr<Watched<Seen>> seen_;
};

}  // namespace

TEST_CASE("a pipelined burst larger than 4 KiB reaches the handler in one call", "[libevent][read]") {
  RunningTransport server(1);
  auto seen = std::make_shared<Watched<Seen>>();
  auto listener = server->listen(ListenOptions{}, [&] { return std::make_unique<PausedRecorder>(seen); });
  RawClient client("127.0.0.1", listener->port());
  REQUIRE(seen->waitUntil([](const Seen& s) { return s.conn != nullptr; }));
  // On loopback a send returns once the bytes are in the receiver's queue:
  // all 48 KiB wait there while the server is not reading.
  constexpr std::size_t kBurst = 48 << 10;
  client.sendAll(patternBytes(kBurst, 7));
  const ConnectionPtr conn = seen->get().conn;
  conn->runInLoop([conn] { conn->resumeReading(); });
  REQUIRE(seen->waitUntil([](const Seen& s) { return s.total == kBurst; }));
  const Seen result = seen->get();
  INFO("onData sizes: " << result.sizes.size() << " calls, first " << result.sizes.front());
  CHECK(result.sizes.front() > 4096);
  CHECK(result.sizes.size() < kBurst / 4096);
}
