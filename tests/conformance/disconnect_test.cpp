// A peer that goes away mid-stream: only its connection closes, with a
// reason, and the producer is told "closed" instead of blocking or crashing.
#include <catch2/catch.hpp>

#include <thread>

#include "test_support.h"

using namespace spool;
using namespace spool::test;

TEST_CASE("a peer reset mid-stream closes only its connection", "[conformance][disconnect]") {
  RunningTransport server(2);
  auto accepted = std::make_shared<Watched<AcceptLog>>();
  auto listener = server->listen(ListenOptions{}, [accepted] {
    return std::make_unique<TargetHandler>(accepted);
  });
  auto echo_listener = server->listen(ListenOptions{}, [] { return std::make_unique<EchoHandler>(); });
  RawClient victim("127.0.0.1", listener->port());
  REQUIRE(accepted->waitUntil([](const AcceptLog& l) { return l.connections.size() == 1; }));
  const AcceptLog target = accepted->get();

  // A producer streams until the connection reports closed.
  std::atomic<std::uint64_t> sent_ok{0};
  SendResult last = SendResult::kOk;
  std::thread producer([&] {
    const std::string chunk = patternBytes(16 << 10, 1);
    for (int i = 0; i < 1'000'000; ++i) {
      last = sendBlocking(*target.connections[0], Buffer::copyOf(chunk), target.recordings[0]);
      if (last != SendResult::kOk) {
        break;
      }
      sent_ok.fetch_add(1);
    }
  });
  // Read some of the stream, then reset the connection under the producer.
  CHECK(victim.receive(1 << 20).size() == (1u << 20));
  victim.reset();
  producer.join();
  CHECK(last == SendResult::kClosed);
  REQUIRE(target.recordings[0]->waitUntil([](const Recording& r) { return r.closed; }));
  const Recording seen = target.recordings[0]->get();
  CHECK(seen.close_calls == 1);
  INFO(seen.reason.describe());
  CHECK((seen.reason.code == CloseCode::kIoError || seen.reason.code == CloseCode::kPeerClosed));
  if (seen.reason.code == CloseCode::kIoError) {
    CHECK((seen.reason.sys_error == ECONNRESET || seen.reason.sys_error == EPIPE));
  }

  // Everyone else is still served.
  RawClient other("127.0.0.1", echo_listener->port());
  other.sendAll("still here");
  CHECK(other.receive(10) == "still here");
}

TEST_CASE("a peer that half-closes still receives what was sent", "[conformance][disconnect]") {
  RunningTransport server(1);
  auto accepted = std::make_shared<Watched<AcceptLog>>();
  auto listener = server->listen(ListenOptions{}, [accepted] {
    return std::make_unique<TargetHandler>(accepted);
  });
  RawClient client("127.0.0.1", listener->port());
  REQUIRE(accepted->waitUntil([](const AcceptLog& l) { return l.connections.size() == 1; }));
  const AcceptLog target = accepted->get();
  const std::string body = patternBytes(768 << 10, 9);  // under the 1 MiB send budget
  for (std::size_t off = 0; off < body.size(); off += 64 << 10) {
    REQUIRE(sendBlocking(*target.connections[0],
                         Buffer::copyOf(std::string_view(body).substr(off, 64 << 10)),
                         target.recordings[0]) == SendResult::kOk);
  }
  client.shutdownWrite();  // EOF to the server: it flushes, then closes
  CHECK(client.receiveUntilEof() == body);
  REQUIRE(target.recordings[0]->waitUntil([](const Recording& r) { return r.closed; }));
  CHECK(target.recordings[0]->get().reason.code == CloseCode::kPeerClosed);
}
