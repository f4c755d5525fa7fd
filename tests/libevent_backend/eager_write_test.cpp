// Output is written when the read callback or the drain batch that produced
// it ends (core's LoopCore::WriteScope), instead of turning a write event on
// and waiting for epoll to report the socket writable.
#include <catch2/catch.hpp>

#include <thread>

#include "test_support.h"

using namespace spool;
using namespace spool::test;

namespace {

std::uint64_t eagerWrites(Transport& transport) { return total(transport.stats()).eager_writes; }

}  // namespace

TEST_CASE("responses from a read callback are written when it returns", "[libevent][eager-write]") {
  RunningTransport server(1);
  auto listener = server->listen(ListenOptions{}, [] { return std::make_unique<EchoHandler>(); });
  RawClient client("127.0.0.1", listener->port());
  constexpr int kRounds = 200;
  for (int i = 0; i < kRounds; ++i) {
    const std::string request = "request " + std::to_string(i);
    client.sendAll(request);
    REQUIRE(client.receive(request.size()) == request);
  }
  // Every echo was written at the end of its read callback; the write event
  // was never needed (a request this small always fits the socket).
  CHECK(eagerWrites(*server) >= kRounds);

  // A response far larger than the socket buffer: the part the kernel does
  // not take goes on through the write event, in order.
  const std::string large = patternBytes(8 << 20, 3);
  std::thread sender([&] { client.sendAll(large); });
  const std::string echoed = client.receive(large.size());
  sender.join();
  CHECK(echoed.size() == large.size());
  CHECK(fnv1a(echoed) == fnv1a(large));
}

TEST_CASE("payloads from other threads are written when their drain batch ends", "[libevent][eager-write]") {
  RunningTransport server(1);
  RunningTransport clients(1);
  auto received = std::make_shared<Watched<std::uint64_t>>(0);
  const AcceptLog target = acceptTargets(*server, *clients, 1, [&] {
    return std::make_unique<ByteCounter>(received);
  });
  const std::uint64_t before = eagerWrites(*server);
  constexpr int kMessages = 100;
  int failures = 0;  // read after join()
  std::thread producer([&] {
    for (int i = 0; i < kMessages && failures == 0; ++i) {
      // One at a time, each waiting for the last to arrive: one drain each.
      const SendResult result =
          sendBlocking(*target.connections[0], Buffer::copyOf("0123456789"), target.recordings[0]);
      failures += result == SendResult::kOk ? 0 : 1;
      received->waitUntil([&](std::uint64_t n) { return n >= static_cast<std::uint64_t>(i + 1) * 10; });
    }
  });
  producer.join();
  REQUIRE(failures == 0);
  CHECK(received->waitUntil([](std::uint64_t n) { return n == kMessages * 10; }));
  CHECK(eagerWrites(*server) - before >= kMessages);
}
