#include "libevent_listener.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "libevent_connection.h"
#include "socket_address.h"
#include "tls_context.h"
#include "spool/errors.h"
#include "spool/log.h"

namespace spool::libevent {
namespace {

// After accept() fails for lack of descriptors (EMFILE/ENFILE) or memory, the
// listening socket stays readable: polling it again at once would spin. Pause
// it for a while instead, as memcached does.
constexpr timeval kAcceptBackoff{0, 100'000};

[[noreturn]] void throwErrno(const std::string& what, int error) {
  throw SetupError(what + ": " + std::strerror(error));
}

struct FdGuard {
  int fd = -1;
  ~FdGuard() {
    if (fd >= 0) {
      ::close(fd);
    }
  }
  int release() noexcept { return std::exchange(fd, -1); }
};

/// A listening socket bound to `address` with SO_REUSEPORT (address's port is
/// updated when it was 0).
int bindListeningSocket(SocketAddress& address, int backlog) {
  FdGuard sock{::socket(address.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)};
  if (sock.fd < 0) {
    throwErrno("socket()", errno);
  }
  const int one = 1;
  ::setsockopt(sock.fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (::setsockopt(sock.fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) {
    throwErrno("setsockopt(SO_REUSEPORT)", errno);
  }
  if (address.family() == AF_INET6) {
    ::setsockopt(sock.fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
  }
  if (::bind(sock.fd, address.get(), address.length) != 0) {
    throwErrno("cannot bind " + address.toString(), errno);
  }
  if (::listen(sock.fd, backlog) != 0) {
    throwErrno("cannot listen on " + address.toString(), errno);
  }
  if (address.port() == 0) {
    sockaddr_storage bound{};
    socklen_t length = sizeof(bound);
    ::getsockname(sock.fd, reinterpret_cast<sockaddr*>(&bound), &length);
    address.setPort(SocketAddress::fromSockaddr(reinterpret_cast<sockaddr*>(&bound), length).port());
  }
  return sock.release();
}

}  // namespace

/// One loop's listening socket. Lives on its loop (adopted as a resource so
/// that stop() frees it there); the Listener holds it to close it early.
struct LibeventListener::Acceptor {
  EventLoop* loop = nullptr;  // owns this acceptor
  ListenOptions options;
  HandlerFactory factory;
  std::shared_ptr<const TlsContext> tls;  // shared by all loops' acceptors
  ListenerPtr listener;  // evconnlistener; loop thread only
  EventPtr backoff_timer;
  std::chrono::steady_clock::time_point last_reject_log{};

  static void onAcceptCb(evconnlistener*, evutil_socket_t fd, sockaddr* addr, int length, void* ctx) {
    static_cast<Acceptor*>(ctx)->accept(fd, addr, length);
  }
  static void onErrorCb(evconnlistener*, void* ctx) { static_cast<Acceptor*>(ctx)->acceptFailed(); }
  static void onBackoffDoneCb(evutil_socket_t, short, void* ctx) {
    auto* self = static_cast<Acceptor*>(ctx);
    if (self->listener) {
      evconnlistener_enable(self->listener.get());
    }
  }

  void accept(evutil_socket_t fd, sockaddr* addr, int length) {
    const std::string peer =
        SocketAddress::fromSockaddr(addr, static_cast<socklen_t>(length)).toString();
    if (!loop->connectionLimit().tryAcquire()) {
      reject(fd, peer);
      return;
    }
    HandlerPtr handler;
    try {
      handler = factory();
    } catch (const std::exception& e) {
      log(LogLevel::kError, "{}: handler factory failed for {}: {}", loop->name(), peer, e.what());
    }
    if (!handler) {
      loop->connectionLimit().release();
      evutil_closesocket(fd);
      return;
    }
    LibeventConnection::create(loop->shared_from_this(), std::move(handler), options.connection, peer, tls)
        ->openAccepted(fd, /*holds_limit_slot=*/true);
  }

  /// Over the connection limit: say so if configured, and close at once.
  void reject(evutil_socket_t fd, const std::string& peer) {
    bump(loop->counters().connections_rejected);
    if (!options.reject_message.empty()) {
      // Best effort on a fresh socket: never blocks, never raises SIGPIPE.
      [[maybe_unused]] const auto n = ::send(fd, options.reject_message.data(),
                                             options.reject_message.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    }
    evutil_closesocket(fd);
    const auto now = std::chrono::steady_clock::now();
    if (now - last_reject_log >= std::chrono::seconds(1)) {
      last_reject_log = now;
      log(LogLevel::kWarning, "{}: connection limit ({}) reached: rejected {} ({} rejected so far)",
          loop->name(), loop->options().max_connections, peer,
          loop->counters().connections_rejected.load(std::memory_order_relaxed));
    }
  }

  void acceptFailed() {
    const int error = EVUTIL_SOCKET_ERROR();
    bump(loop->counters().accept_errors);
    log(LogLevel::kWarning, "{}: accept failed: {}; pausing accepts for {} ms", loop->name(),
        std::strerror(error), kAcceptBackoff.tv_usec / 1000);
    evconnlistener_disable(listener.get());
    event_add(backoff_timer.get(), &kAcceptBackoff);
  }

  void close() {
    loop->assertInLoopThread("Acceptor::close");
    backoff_timer.reset();
    listener.reset();
  }

  ~Acceptor() {
    // Runs on the loop thread (stop) or after that thread has exited, before
    // the event_base is freed: the loop holds the only owning reference.
    backoff_timer.reset();
    listener.reset();
  }
};

std::shared_ptr<LibeventListener> LibeventListener::create(
    const std::vector<std::shared_ptr<EventLoop>>& loops, const ListenOptions& options,
    HandlerFactory factory) {
  // One SSL context per listener, built (and checked) before anything binds.
  std::shared_ptr<const TlsContext> tls;
  if (options.tls) {
    tls = TlsContext::create(*options.tls, TlsContext::Role::kServer);
  }
  SocketAddress address = SocketAddress::resolve(options.host, options.port, true);
  // Bind every socket first, so that a failure leaves nothing behind.
  std::vector<FdGuard> sockets(loops.size());
  for (auto& sock : sockets) {
    sock.fd = bindListeningSocket(address, options.backlog);
  }
  std::shared_ptr<LibeventListener> result(new LibeventListener());
  result->port_ = address.port();
  for (std::size_t i = 0; i < loops.size(); ++i) {
    auto acceptor = std::make_shared<Acceptor>();
    acceptor->loop = loops[i].get();
    acceptor->options = options;
    acceptor->factory = factory;
    acceptor->tls = tls;
    const int fd = sockets[i].release();
    bool ok = false;
    loops[i]->runInLoopAndWait([&](bool cancelled) {
      if (cancelled || loops[i]->stopping()) {
        ::close(fd);
        return;
      }
      auto* raw = acceptor.get();
      // CLOSE_ON_FREE: the evconnlistener owns the socket now. No
      // LEV_OPT_THREADSAFE: only this loop touches it.
      acceptor->listener.reset(evconnlistener_new(loops[i]->base(), &Acceptor::onAcceptCb, raw,
                                                  LEV_OPT_CLOSE_ON_FREE, -1, fd));
      if (!acceptor->listener) {
        ::close(fd);
        return;
      }
      evconnlistener_set_error_cb(acceptor->listener.get(), &Acceptor::onErrorCb);
      acceptor->backoff_timer.reset(evtimer_new(loops[i]->base(), &Acceptor::onBackoffDoneCb, raw));
      loops[i]->adopt(acceptor);
      ok = true;
    });
    if (!ok) {
      result->close();
      throw SetupError("cannot start accepting on " + address.toString() +
                       " (transport stopped or out of memory)");
    }
    result->acceptors_.push_back(acceptor);
    result->loops_.push_back(loops[i]);
  }
  return result;
}

LibeventListener::~LibeventListener() = default;

void LibeventListener::close() {
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

}  // namespace spool::libevent
