// What accepting a plain-TCP connection costs the loop in epoll_ctl calls:
// the read event is added, and nothing else until output is left over; and
// what each read costs: one recv, without bufferevent_socket's FIONREAD.
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

TEST_CASE("an accepted plain connection reads without asking FIONREAD", "[libevent][accept]") {
  RunningTransport server(1);
  auto listener = server->listen(ListenOptions{}, [] { return std::make_unique<EchoHandler>(); });
  RawClient client("127.0.0.1", listener->port());
  constexpr int kRounds = 200;
  const std::uint64_t before = fionreadCalls();
  for (int i = 0; i < kRounds; ++i) {
    const std::string request = "request " + std::to_string(i);
    client.sendAll(request);
    REQUIRE(client.receive(request.size()) == request);
  }
  // bufferevent_socket's read asks the socket for its byte count before every
  // readv (libevent 2.1's evbuffer_read): one ioctl per request here.
  CHECK(fionreadCalls() - before == 0);
}
