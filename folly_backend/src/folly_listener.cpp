#include "folly_listener.h"

#include <folly/io/async/AsyncServerSocket.h>
#include <unistd.h>

#include "acceptor_core.h"
#include "folly_connection.h"
#include "listener_core.h"
#include "spool/errors.h"
#include "spool/log.h"
#include "tls_slot.h"

namespace spool::folly_backend {

namespace {

/// One loop's listening socket. Lives on its loop (adopted, so that the loop
/// frees it on its own thread); the Listener reaches it to close it early.
struct Acceptor final : folly::AsyncServerSocket::AcceptCallback {
  Acceptor(FollyLoop& l, const ListenOptions& options, HandlerFactory factory,
           std::shared_ptr<core::TlsSlot<FollyTls>> slot)
      : loop(&l), admission(l, options, std::move(factory)), tls(std::move(slot)) {}
  ~Acceptor() override { close(); }

  void connectionAccepted(folly::NetworkSocket fd, const folly::SocketAddress& client,
                          AcceptInfo) noexcept override {
    sockaddr_storage storage{};
    const socklen_t length = client.getAddress(&storage);
    const std::string peer =
        admission.peerName(reinterpret_cast<const sockaddr*>(&storage), length);
    if (HandlerPtr handler = admission.admit(fd.toFd(), peer)) {
      FollyConnection::create(loop->self(), std::move(handler), admission.options().connection,
                              peer, tls ? tls->get() : nullptr)
          ->openAccepted(fd.toFd(), /*holds_limit_slot=*/true);
    }
  }

  void acceptError(folly::exception_wrapper error) noexcept override {
    // AsyncServerSocket pauses accepting by itself after EMFILE/ENFILE.
    bump(loop->counters().accept_errors);
    log(LogLevel::kWarning, "{}: accept failed: {}", loop->name(), error.what().toStdString());
  }

  void close() noexcept {
    if (server) {
      server->stopAccepting();
      server.reset();
    }
  }

  FollyLoop* loop;  // owns this acceptor
  core::Admission admission;
  std::shared_ptr<core::TlsSlot<FollyTls>> tls;  // shared by all loops' acceptors; null without TLS
  folly::AsyncServerSocket::UniquePtr server;  // loop thread only
};

}  // namespace

std::shared_ptr<Listener> listenOnLoops(const std::vector<std::shared_ptr<FollyLoop>>& loops,
                                        const ListenOptions& options, HandlerFactory factory) {
  // One SSL context per listener, built (and checked) before anything binds.
  // Each connection's AsyncSSLSocket is made from the FollyTls (the
  // folly::SSLContext) current when it is accepted: replaceTls swaps it.
  const auto make = [](const TlsConfig& config) {
    return std::make_shared<const FollyTls>(
        core::TlsContext::create(config, core::TlsContext::Role::kServer));
  };
  std::shared_ptr<core::TlsSlot<FollyTls>> tls;
  std::function<void(const TlsConfig&)> replace_tls;
  if (options.tls) {
    tls = std::make_shared<core::TlsSlot<FollyTls>>(make(*options.tls));
    replace_tls = [slot = tls, make](const TlsConfig& config) { slot->set(make(config)); };
  }
  auto start = [&](FollyLoop& loop, int fd) {
    auto acceptor = std::make_shared<Acceptor>(loop, options, factory, tls);
    try {
      acceptor->server.reset(new folly::AsyncServerSocket(&loop.base()));
    } catch (...) {
      ::close(fd);
      throw;
    }
    acceptor->server->useExistingSocket(folly::NetworkSocket::fromFd(fd));  // owns it now
    acceptor->server->addAcceptCallback(acceptor.get(), nullptr);           // accepted on this loop
    acceptor->server->startAccepting();
    return acceptor;
  };
  return core::listenOnLoops<Acceptor>(loops, options, start, std::move(replace_tls));
}

}  // namespace spool::folly_backend
