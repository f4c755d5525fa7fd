// A peer that goes away mid-stream: only its connection closes, with a
// reason, and the producer is told "closed" instead of blocking or crashing.
#include <catch2/catch.hpp>

#include <thread>

#include "test_support.h"

using namespace spool;
using namespace spool::test;

TEST_CASE("a peer reset mid-stream closes only its connection", "[conformance][disconnect][tls]") {
  RunningTransport server(2);
  RunningTransport clients(1);
  auto received = std::make_shared<Watched<std::uint64_t>>(0);
  const AcceptLog target = acceptTargets(*server, *clients, 1, [&] {
    return std::make_unique<ByteCounter>(received);
  });
  auto echo_listener = server->listen(serverOptions(), [] { return std::make_unique<EchoHandler>(); });

  // A producer streams until the connection reports closed.
  SendResult last = SendResult::kOk;
  std::thread producer([&] {
    const std::string chunk = patternBytes(16 << 10, 1);
    for (int i = 0; i < 1'000'000; ++i) {
      last = sendBlocking(*target.connections[0], Buffer::copyOf(chunk), target.recordings[0]);
      if (last != SendResult::kOk) {
        break;
      }
    }
  });
  // Let some of the stream arrive, then reset the connection under the producer.
  REQUIRE(received->waitUntil([](std::uint64_t n) { return n >= (1u << 20); }));
  target.client_connections.at(0)->close(CloseMode::kAbort, "test reset");
  producer.join();
  CHECK(last == SendResult::kClosed);
  REQUIRE(target.recordings[0]->waitUntil([](const Recording& r) { return r.closed; }));
  const Recording seen = target.recordings[0]->get();
  CHECK(seen.close_calls == 1);
  INFO(seen.reason.describe());
  CHECK((seen.reason.code == CloseCode::kIoError || seen.reason.code == CloseCode::kPeerClosed ||
         seen.reason.code == CloseCode::kTlsError));
  if (seen.reason.code == CloseCode::kIoError) {
    CHECK((seen.reason.sys_error == ECONNRESET || seen.reason.sys_error == EPIPE));
  }

  // Everyone else is still served.
  auto record = std::make_shared<Watched<Recording>>();
  auto other = connectAndWait(*clients, echo_listener->port(), record);
  REQUIRE(other->send(std::string_view("still here")) == SendResult::kOk);
  REQUIRE(record->waitUntil([](const Recording& r) { return r.data.size() >= 10; }));
  CHECK(record->get().data == "still here");
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
