// Every listening socket gets the backlog asked for, by default at least
// memcached's 1024 (and SOMAXCONN): read back from the kernel (sock_diag, as
// `ss -ltn` shows it in Send-Q), so a listener left at 128 fails here.
#include <catch2/catch.hpp>

#include <algorithm>

#include "listen_backlog.h"
#include "test_support.h"

using namespace spool;
using namespace spool::test;

namespace {

constexpr unsigned kMemcachedBacklog = 1024;

/// What every socket of the listener on `port` must have.
void checkTcp(std::uint16_t port, std::size_t sockets, unsigned at_least) {
  const std::vector<unsigned> backlogs = tcpListenBacklogs(port);
  REQUIRE(backlogs.size() == sockets);  // one per loop (SO_REUSEPORT)
  for (const unsigned backlog : backlogs) {
    CHECK(backlog >= effectiveBacklog(at_least));
  }
}

}  // namespace

TEST_CASE("a TCP listener's sockets have the default backlog: memcached's 1024 or SOMAXCONN",
          "[conformance][listen]") {
  CHECK(ListenOptions{}.backlog >= static_cast<int>(kMemcachedBacklog));
  CHECK(ListenOptions{}.backlog >= SOMAXCONN);
  RunningTransport transport(2);
  auto listener =
      transport->listen(ListenOptions{}, [] { return std::make_unique<EchoHandler>(); });
  checkTcp(listener->port(), 2, std::max<unsigned>(kMemcachedBacklog, SOMAXCONN));
}

TEST_CASE("a listener's sockets have the backlog asked for", "[conformance][listen]") {
  RunningTransport transport(2);
  ListenOptions options;
  options.backlog = 2000;
  auto listener = transport->listen(options, [] { return std::make_unique<EchoHandler>(); });
  const std::vector<unsigned> backlogs = tcpListenBacklogs(listener->port());
  REQUIRE(backlogs.size() == 2);
  for (const unsigned backlog : backlogs) {
    CHECK(backlog == effectiveBacklog(2000));
  }
}

TEST_CASE("a Unix socket listener has the default backlog too", "[conformance][listen][unix]") {
  TempDir dir;
  ListenOptions options;
  options.unix_path = dir.file("backlog.sock");
  RunningTransport transport(2);
  auto listener = transport->listen(options, [] { return std::make_unique<EchoHandler>(); });
  const std::optional<unsigned> backlog = unixListenBacklog(options.unix_path);
  REQUIRE(backlog.has_value());
  CHECK(*backlog >= effectiveBacklog(std::max<unsigned>(kMemcachedBacklog, SOMAXCONN)));
}
