// Many connections at once, each with its own conversation.
#include <catch2/catch.hpp>

#include "spool/errors.h"
#include "test_support.h"

using namespace spool;
using namespace spool::test;

namespace {

/// Echoes, and counts server-side closes.
class CountingEcho final : public EchoHandler {
 public:
  explicit CountingEcho(std::shared_ptr<Watched<int>> closes) : closes_(std::move(closes)) {}
  void onClose(Connection&, const CloseReason&) override {
    closes_->update([](int& n) { ++n; });
  }

 private:
  std::shared_ptr<Watched<int>> closes_;
};

}  // namespace

TEST_CASE("1,000 concurrent connections each get their own echo", "[conformance][connections][tls]") {
  constexpr int kConnections = 1000;
  RunningTransport server(2);
  RunningTransport clients(2);
  auto server_closes = std::make_shared<Watched<int>>(0);
  auto listener = server->listen(serverOptions(), [server_closes] {
    return std::make_unique<CountingEcho>(server_closes);
  });

  std::vector<RecordingPtr> records;
  std::vector<ConnectionPtr> conns;
  for (int i = 0; i < kConnections; ++i) {
    records.push_back(std::make_shared<Watched<Recording>>());
    conns.push_back(clients->connect(clientOptions(listener->port()), std::make_unique<RecordingHandler>(records.back())));
  }
  for (int i = 0; i < kConnections; ++i) {
    // Queued before the connect completes: sends are accepted at once.
    REQUIRE(conns[i]->send("connection " + std::to_string(i) + "\n") == SendResult::kOk);
  }
  int wrong = 0;
  for (int i = 0; i < kConnections; ++i) {
    const std::string expected = "connection " + std::to_string(i) + "\n";
    REQUIRE(records[i]->waitUntil([&](const Recording& r) { return r.data.size() >= expected.size(); }));
    wrong += records[i]->get().data == expected ? 0 : 1;
  }
  CHECK(wrong == 0);
  CHECK(total(server->stats()).connections_open == kConnections);
  CHECK(total(server->stats()).connections_total == kConnections);

  for (auto& conn : conns) {
    conn->close();
  }
  for (auto& record : records) {
    REQUIRE(record->waitUntil([](const Recording& r) { return r.closed; }));
    CHECK(record->get().close_calls == 1);
  }
  // The server side sees every peer go away too.
  REQUIRE(server_closes->waitUntil([](int n) { return n == kConnections; }));
  CHECK(total(server->stats()).connections_open == 0);
}

TEST_CASE("listen fails on an address another transport holds", "[listen]") {
  RunningTransport first(2);   // two loops share their port through SO_REUSEPORT
  RunningTransport second(1);
  auto listener = first->listen(serverOptions(), [] { return std::make_unique<EchoHandler>(); });
  ListenOptions same = serverOptions();
  same.port = listener->port();
  CHECK_THROWS_AS(second->listen(same, [] { return std::make_unique<EchoHandler>(); }), AddressInUseError);
  // Nothing was split: the first transport's listener keeps serving.
  auto record = std::make_shared<Watched<Recording>>();
  auto conn = connectAndWait(*second, listener->port(), record);
  REQUIRE(conn->send("ping") == SendResult::kOk);
  CHECK(record->waitUntil([](const Recording& r) { return r.data == "ping"; }));
}
