// What accepting a plain-TCP connection costs the loop in epoll_ctl calls:
// the read event is added, and nothing else until output is left over.
#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <vector>

#include "producer_syscalls.h"
#include "test_support.h"

using namespace spool;
using namespace spool::test;

TEST_CASE("accepting and answering a plain connection costs one epoll_ctl", "[libevent][accept]") {
  RunningTransport server(1);
  auto opened = std::make_shared<Watched<int>>(0);
  auto listener = server->listen(ListenOptions{}, [] { return std::make_unique<EchoHandler>(); });
  constexpr int kConnections = 64;
  std::vector<std::unique_ptr<RawClient>> clients;
  const std::uint64_t before = epollCtlCalls();
  for (int i = 0; i < kConnections; ++i) {
    clients.push_back(std::make_unique<RawClient>("127.0.0.1", listener->port()));
    const std::string request = "hello " + std::to_string(i);
    clients.back()->sendAll(request);
    REQUIRE(clients.back()->receive(request.size()) == request);
  }
  const std::uint64_t calls = epollCtlCalls() - before;
  // One EPOLL_CTL_ADD for the read event each. Enabling the write event at
  // accept would add two more (on, then off after a wake-up for nothing).
  CHECK(calls == static_cast<std::uint64_t>(kConnections));
}
