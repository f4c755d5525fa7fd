// Bulk TLS output: with more than two records pending, the libevent backend
// corks the socket and lets OpenSSL keep its write buffer (both undone when
// the output empties); replies that fit a record never pay for either.
#include <catch2/catch.hpp>

#include "test_pki.h"
#include "test_support.h"

using namespace spool;
using namespace spool::test;

namespace {

std::uint64_t bulkCorks(Transport& transport) { return total(transport.stats()).tls_bulk_corks; }

}  // namespace

TEST_CASE("bulk TLS output is corked, small replies are not", "[libevent][tls-bulk]") {
  RunningTransport server(1);
  RunningTransport clients(1);
  auto log = std::make_shared<Watched<AcceptLog>>();
  ListenOptions listen;
  listen.host = "127.0.0.1";
  listen.tls = serverTls();
  auto listener = server->listen(listen, [log] { return std::make_unique<TargetHandler>(log); });
  ConnectOptions connect;
  connect.host = "127.0.0.1";
  connect.port = listener->port();
  connect.tls = clientTls();
  auto received = std::make_shared<Watched<Recording>>();
  const ConnectionPtr client = clients->connect(connect, std::make_unique<RecordingHandler>(received));
  REQUIRE(log->waitUntil([](const AcceptLog& l) { return l.connections.size() == 1; }));
  const ConnectionPtr conn = log->get().connections[0];
  const RecordingPtr writable = log->get().recordings[0];

  // Request/response sized: each reply waits for the last, never two records pending.
  std::string expected;
  for (int i = 0; i < 50; ++i) {
    const std::string reply = "reply " + std::to_string(i) + "\r\n";
    expected += reply;
    REQUIRE(sendBlocking(*conn, Buffer::copyOf(reply), writable) == SendResult::kOk);
    REQUIRE(received->waitUntil([&](const Recording& r) { return r.data.size() == expected.size(); }));
  }
  CHECK(bulkCorks(*server) == 0);

  // 8 MiB in 16 KiB payloads, as fast as the budget takes them.
  const std::string bulk = patternBytes(8 << 20, 11);
  for (std::size_t at = 0; at < bulk.size(); at += 16 << 10) {
    REQUIRE(sendBlocking(*conn, Buffer::copyOf(std::string_view(bulk).substr(at, 16 << 10)), writable) ==
            SendResult::kOk);
  }
  expected += bulk;
  // And a reply behind it: the cork comes off when the output empties.
  REQUIRE(sendBlocking(*conn, Buffer::copyOf("done\r\n"), writable) == SendResult::kOk);
  expected += "done\r\n";
  REQUIRE(received->waitUntil([&](const Recording& r) { return r.data.size() == expected.size(); }));
  CHECK(fnv1a(received->get().data) == fnv1a(expected));
  CHECK(bulkCorks(*server) >= 1);
}
