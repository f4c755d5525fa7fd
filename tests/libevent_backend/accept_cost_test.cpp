// What accepting a plain-TCP connection costs the loop in epoll_ctl calls:
// the read event is added, and nothing else until output is left over; and
// what each read costs: one recv, without the FIONREAD that libevent's
// evbuffer_read asks before each read (the old bufferevent path paid it).
#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <vector>

#include <openssl/ssl.h>

#include "producer_syscalls.h"
#include "test_pki.h"
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
  // libevent 2.1's evbuffer_read asks the socket for its byte count before
  // every readv: one ioctl per request, were reads to go through it.
  CHECK(fionreadCalls() - before == 0);
}

TEST_CASE("a TLS connection's requests and replies cost no epoll_ctl after the handshake", "[libevent][tls]") {
  // bufferevent_openssl added its write event and removed it again for every
  // response batch: two epoll_ctl per reply. Core writes the records itself
  // and arms the write event only when the kernel refuses bytes.
  RunningTransport server(1);
  ListenOptions options;
  options.tls = serverTls();
  auto listener = server->listen(options, [] { return std::make_unique<EchoHandler>(); });
  RawClient tcp("127.0.0.1", listener->port());
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_client_method()), &SSL_CTX_free);
  SSL_CTX_load_verify_locations(ctx.get(), TestPki::get().ca_cert.c_str(), nullptr);
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  std::unique_ptr<SSL, decltype(&SSL_free)> ssl(SSL_new(ctx.get()), &SSL_free);
  SSL_set_fd(ssl.get(), tcp.fd());
  REQUIRE(SSL_connect(ssl.get()) == 1);
  const auto roundTrip = [&](const std::string& request) {
    REQUIRE(SSL_write(ssl.get(), request.data(), static_cast<int>(request.size())) ==
            static_cast<int>(request.size()));
    std::string echoed(request.size(), '\0');
    std::size_t got = 0;
    while (got < echoed.size()) {
      const int n = SSL_read(ssl.get(), echoed.data() + got, static_cast<int>(echoed.size() - got));
      REQUIRE(n > 0);
      got += static_cast<std::size_t>(n);
    }
    CHECK(echoed == request);
  };
  roundTrip("first");  // the server's handshake and its first reply are behind us
  const std::uint64_t before = epollCtlCalls();
  constexpr int kRounds = 200;
  for (int i = 0; i < kRounds; ++i) {
    roundTrip("request " + std::to_string(i));
  }
  CHECK(epollCtlCalls() - before == 0);
}
