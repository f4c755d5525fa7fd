#include "folly_listener.h"

#include <folly/io/async/AsyncServerSocket.h>
#include <unistd.h>

#include "acceptor_core.h"
#include "folly_connection.h"
#include "spool/errors.h"
#include "spool/log.h"

namespace spool::folly_backend {

/// One loop's listening socket. Lives on its loop (adopted as a resource so
/// that stop() frees it there); the Listener holds it to close it early.
struct FollyListener::Acceptor final : folly::AsyncServerSocket::AcceptCallback {
  Acceptor(FollyLoop& l, const ListenOptions& options, HandlerFactory factory, std::shared_ptr<const FollyTls> t)
      : loop(&l), admission(l, options, std::move(factory)), tls(std::move(t)) {}
  ~Acceptor() override { close(); }

  void connectionAccepted(folly::NetworkSocket fd, const folly::SocketAddress& client,
                          AcceptInfo) noexcept override {
    sockaddr_storage storage{};
    const socklen_t length = client.getAddress(&storage);
    const std::string peer =
        core::SocketAddress::fromSockaddr(reinterpret_cast<const sockaddr*>(&storage), length).toString();
    if (HandlerPtr handler = admission.admit(fd.toFd(), peer)) {
      FollyConnection::create(loop->self(), std::move(handler), admission.options().connection, peer, tls)
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
  std::shared_ptr<const FollyTls> tls;  // shared by all loops' acceptors
  folly::AsyncServerSocket::UniquePtr server;  // loop thread only
};

std::shared_ptr<FollyListener> FollyListener::create(const std::vector<std::shared_ptr<FollyLoop>>& loops,
                                                     const ListenOptions& options, HandlerFactory factory) {
  // One SSL context per listener, built (and checked) before anything binds.
  std::shared_ptr<const FollyTls> tls;
  if (options.tls) {
    tls = std::make_shared<const FollyTls>(core::TlsContext::create(*options.tls, core::TlsContext::Role::kServer));
  }
  core::SocketAddress address = core::SocketAddress::resolve(options.host, options.port, true);
  // Bind every socket first, so that a failure leaves nothing behind.
  std::vector<core::FdGuard> sockets = core::bindListeningSockets(address, options.backlog, loops.size());
  std::shared_ptr<FollyListener> result(new FollyListener());
  result->port_ = address.port();
  for (std::size_t i = 0; i < loops.size(); ++i) {
    auto acceptor = std::make_shared<Acceptor>(*loops[i], options, factory, tls);
    const int fd = sockets[i].release();
    std::string error;
    loops[i]->runInLoopAndWait([&](bool cancelled) {
      if (cancelled || loops[i]->stopping()) {
        ::close(fd);
        error = "transport stopped";
        return;
      }
      try {
        acceptor->server.reset(new folly::AsyncServerSocket(&loops[i]->base()));
        acceptor->server->useExistingSocket(folly::NetworkSocket::fromFd(fd));  // owns it now
        acceptor->server->addAcceptCallback(acceptor.get(), nullptr);  // accepted on this loop
        acceptor->server->startAccepting();
        loops[i]->adopt(acceptor);
      } catch (const std::exception& e) {
        error = e.what();
        acceptor->close();
      }
    });
    if (!error.empty()) {
      result->close();
      throw SetupError("cannot start accepting on " + address.toString() + ": " + error);
    }
    result->acceptors_.push_back(acceptor);
    result->loops_.push_back(loops[i]);
  }
  return result;
}

FollyListener::~FollyListener() = default;

void FollyListener::close() {
  for (std::size_t i = 0; i < acceptors_.size(); ++i) {
    loops_[i]->runInLoopAndWait([weak = acceptors_[i]](bool cancelled) {
      if (auto acceptor = weak.lock(); acceptor && !cancelled) {
        acceptor->close();
      }
    });
  }
  acceptors_.clear();
  loops_.clear();
}

}  // namespace spool::folly_backend
