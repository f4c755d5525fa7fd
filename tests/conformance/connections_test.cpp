// Many connections at once, each with its own conversation.
#include <catch2/catch.hpp>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

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

namespace {
/// True when a TCP connect to 127.0.0.1:port is refused (nobody listens).
bool refused(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool was_refused =
      ::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0 && errno == ECONNREFUSED;
  ::close(fd);
  return was_refused;
}
}  // namespace

TEST_CASE("dropping the last ListenerPtr stops accepting at once", "[listen]") {
  RunningTransport transport(2);
  std::uint16_t port = 0;
  auto record = std::make_shared<Watched<Recording>>();
  ConnectionPtr established;
  {
    auto listener = transport->listen(serverOptions(), [] { return std::make_unique<EchoHandler>(); });
    port = listener->port();
    established = connectAndWait(*transport, port, record);
    CHECK_FALSE(refused(port));
  }  // the listener goes here, long before stop()
  CHECK(refused(port));
  // Established connections stay.
  REQUIRE(established->send("after") == SendResult::kOk);
  CHECK(record->waitUntil([](const Recording& r) { return r.data == "after"; }));
}

TEST_CASE("calls that wait for the loops throw on a loop thread instead of deadlocking", "[listen]") {
  RunningTransport transport(1);
  auto listener = transport->listen(serverOptions(), [] { return std::make_unique<EchoHandler>(); });
  auto record = std::make_shared<Watched<Recording>>();
  auto conn = connectAndWait(*transport, listener->port(), record);
  struct Outcome {
    int thrown = 0;
    bool done = false;
  };
  auto outcome = std::make_shared<Watched<Outcome>>();
  Transport& t = *transport;
  conn->runInLoop([&t, listener, outcome] {
    int thrown = 0;
    const auto expectThrow = [&thrown](auto&& call) {
      try {
        call();
      } catch (const SetupError&) {
        ++thrown;
      }
    };
    expectThrow([&] { (void)t.listen(serverOptions(), [] { return std::make_unique<EchoHandler>(); }); });
    expectThrow([&] { (void)t.connect(clientOptions(listener->port()), std::make_unique<EchoHandler>()); });
    expectThrow([&] { t.stop(); });
    expectThrow([&] { listener->close(); });
    outcome->update([thrown](Outcome& o) {
      o.thrown = thrown;
      o.done = true;
    });
  });
  REQUIRE(outcome->waitUntil([](const Outcome& o) { return o.done; }));
  CHECK(outcome->get().thrown == 4);
  // The loop is still alive and serving.
  REQUIRE(conn->send("alive") == SendResult::kOk);
  CHECK(record->waitUntil([](const Recording& r) { return r.data == "alive"; }));
}
