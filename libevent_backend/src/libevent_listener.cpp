#include "libevent_listener.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "acceptor_core.h"
#include "libevent_connection.h"
#include "listener_core.h"
#include "socket_address.h"
#include "spool/errors.h"
#include "spool/log.h"
#include "tls_context.h"
#include "tls_slot.h"

namespace spool::libevent {
namespace {

// After accept() fails for lack of descriptors (EMFILE/ENFILE) or memory, the
// listening socket stays readable: polling it again at once would spin. Pause
// it for a while instead, as memcached does.
constexpr timeval kAcceptBackoff{0, 100'000};

/// One loop's listening socket. Lives on its loop (adopted, so that the loop
/// frees it on its own thread); the Listener reaches it to close it early.
struct Acceptor {
  Acceptor(EventLoop& l, const ListenOptions& options, HandlerFactory factory,
           std::shared_ptr<core::TlsSlot<TlsContext>> slot)
      : loop(&l), admission(l, options, std::move(factory)), tls(std::move(slot)) {}

  EventLoop* loop;  // owns this acceptor
  core::Admission admission;
  std::shared_ptr<core::TlsSlot<TlsContext>>
      tls;               // shared by all loops' acceptors; null without TLS
  ListenerPtr listener;  // evconnlistener; loop thread only
  EventPtr backoff_timer;

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
    const std::string peer = admission.peerName(addr, static_cast<socklen_t>(length));
    if (HandlerPtr handler = admission.admit(fd, peer)) {
      LibeventConnection::create(loop->self(), std::move(handler), admission.options().connection,
                                 peer, tls ? tls->get() : nullptr)
          ->openAccepted(fd, /*holds_limit_slot=*/true);
    }
  }

  void acceptFailed() {
    const int error = EVUTIL_SOCKET_ERROR();
    bump(loop->counters().accept_errors);
    log(LogLevel::kWarning, "{}: accept failed: {}; pausing accepts for {} ms", loop->name(),
        std::strerror(error), kAcceptBackoff.tv_usec / 1000);
    evconnlistener_disable(listener.get());
    if (event_add(backoff_timer.get(), &kAcceptBackoff) != 0) {
      evconnlistener_enable(listener.get());  // a spinning accept beats a listener that never resumes
    }
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

}  // namespace

std::shared_ptr<Listener> listenOnLoops(const std::vector<std::shared_ptr<EventLoop>>& loops,
                                        const ListenOptions& options, HandlerFactory factory) {
  // One SSL context per listener, built (and checked) before anything binds.
  std::shared_ptr<core::TlsSlot<TlsContext>> tls;
  std::function<void(const TlsConfig&)> replace_tls;
  if (options.tls) {
    tls = std::make_shared<core::TlsSlot<TlsContext>>(
        TlsContext::create(*options.tls, TlsContext::Role::kServer));
    replace_tls = [slot = tls](const TlsConfig& config) {
      slot->set(TlsContext::create(config,
                                   TlsContext::Role::kServer));  // throws before replacing anything
    };
  }
  auto start = [&](EventLoop& loop, int fd) {
    auto acceptor = std::make_shared<Acceptor>(loop, options, factory, tls);
    auto* raw = acceptor.get();
    // CLOSE_ON_FREE: the evconnlistener owns the socket now. No
    // LEV_OPT_THREADSAFE: only this loop touches it. Backlog 0: the socket
    // already listens with ListenOptions::backlog (acceptor_core.cpp); a
    // negative one would make libevent listen() again with its own 128.
    acceptor->listener.reset(
        evconnlistener_new(loop.base(), &Acceptor::onAcceptCb, raw, LEV_OPT_CLOSE_ON_FREE, 0, fd));
    if (!acceptor->listener) {
      ::close(fd);
      throw SetupError(std::string("evconnlistener_new failed: ") + std::strerror(errno));
    }
    evconnlistener_set_error_cb(acceptor->listener.get(), &Acceptor::onErrorCb);
    acceptor->backoff_timer.reset(evtimer_new(loop.base(), &Acceptor::onBackoffDoneCb, raw));
    if (!acceptor->backoff_timer) {
      throw SetupError("evtimer_new failed");  // the evconnlistener closes the socket
    }
    return acceptor;
  };
  return core::listenOnLoops<Acceptor>(loops, options, start, std::move(replace_tls));
}

}  // namespace spool::libevent
