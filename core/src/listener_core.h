// What every backend's Listener shares: the port, and closing the per-loop
// acceptors on close() or when the last ListenerPtr goes.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include <unistd.h>

#include <exception>
#include <string>

#include "acceptor_core.h"
#include "loop_core.h"
#include "socket_address.h"
#include "spool/errors.h"
#include "spool/transport.h"

namespace spool::core {

/// A Listener over one acceptor per loop. Each loop owns its acceptor
/// (LoopCore::adopt) and destroys it on its own thread; the listener only
/// reaches them to close them. `Acceptor` has a loop-thread close().
template <typename Acceptor>
class ListenerCore final : public Listener {
 public:
  /// `replace_tls` builds and installs a new server TLS context (see
  /// replaceTls()); null for a listener without TLS.
  ListenerCore(std::uint16_t port, std::unique_ptr<UnixSocketFile> unix_file,
               std::function<void(const TlsConfig&)> replace_tls) noexcept
      : port_(port), unix_file_(std::move(unix_file)), replace_tls_(std::move(replace_tls)) {}
  /// Dropping the last reference closes the listener: at once, waiting for
  /// every loop; or, when dropped on one of its own loops' threads (where
  /// waiting would deadlock), by a task posted to each loop.
  ~ListenerCore() override { shutDown(!onOwnLoop()); }

  /// `acceptor` is adopted by `loop` and accepting.
  void add(std::shared_ptr<LoopCore> loop, const std::shared_ptr<Acceptor>& acceptor) {
    shares_.push_back({std::move(loop), acceptor});
  }

  // Listener
  [[nodiscard]] std::uint16_t port() const noexcept override { return port_; }
  void replaceTls(const TlsConfig& config) override {
    if (!replace_tls_) {
      throw SetupError("Listener::replaceTls: this listener was made without TLS");
    }
    replace_tls_(config);
  }
  void close() override {
    if (onOwnLoop()) {
      throw SetupError("Listener::close called on one of its loop threads: it would wait for itself; "
                       "drop the ListenerPtr there instead");
    }
    shutDown(true);
  }

 private:
  struct Share {
    std::shared_ptr<LoopCore> loop;
    std::weak_ptr<Acceptor> acceptor;
  };

  [[nodiscard]] bool onOwnLoop() const noexcept {
    for (const auto& share : shares_) {
      if (share.loop->inLoopThread()) {
        return true;
      }
    }
    return false;
  }

  void shutDown(bool wait) noexcept {
    for (auto& share : shares_) {
      auto task = [loop = share.loop.get(), weak = share.acceptor](bool cancelled) {
        if (auto acceptor = weak.lock(); acceptor && !cancelled) {
          acceptor->close();
          loop->release(acceptor.get());  // freed now, not at stop()
        }
      };
      try {
        if (wait && !share.loop->inLoopThread()) {
          share.loop->runInLoopAndWait(std::move(task));
        } else {
          // The task keeps the loop alive until it has run.
          share.loop->runInLoop([keep = share.loop, task = std::move(task)](bool cancelled) { task(cancelled); });
        }
      } catch (...) {
        // Out of memory for the task: the loop closes the acceptor at stop().
      }
    }
    shares_.clear();
    if (unix_file_) {
      unix_file_->remove();  // new clients are refused from here on
    }
  }

  const std::uint16_t port_;
  const std::unique_ptr<UnixSocketFile> unix_file_;
  const std::function<void(const TlsConfig&)> replace_tls_;
  std::vector<Share> shares_;
};

/// Binds one listening socket per loop (all first, so that a failure leaves
/// nothing behind) and has each loop start its acceptor: `start(loop, fd)`
/// runs on that loop's thread, takes ownership of `fd` and returns the
/// acceptor, or null / throws (closing `fd`) when it cannot.
/// @throws SetupError (AddressInUseError when the address is taken).
/// `replace_tls`: see ListenerCore.
template <typename Acceptor, typename Loop, typename Start>
std::shared_ptr<Listener> listenOnLoops(
    const std::vector<std::shared_ptr<Loop>>& loops, const ListenOptions& options, Start start,
    std::function<void(const TlsConfig&)> replace_tls = nullptr) {
  BoundSockets bound = bindListeners(options, loops.size());
  auto listener = std::make_shared<ListenerCore<Acceptor>>(bound.port, std::move(bound.unix_file),
                                                           std::move(replace_tls));
  for (std::size_t i = 0; i < loops.size(); ++i) {
    Loop& loop = *loops[i];
    const int fd = bound.sockets[i].release();
    std::shared_ptr<Acceptor> acceptor;
    std::string error = "out of memory";
    loop.runInLoopAndWait([&](bool cancelled) {
      if (cancelled || loop.stopping()) {
        ::close(fd);
        error = "the transport is stopping";
        return;
      }
      try {
        acceptor = start(loop, fd);
        if (acceptor) {
          loop.adopt(acceptor);
        }
      } catch (const std::exception& e) {
        acceptor.reset();
        error = e.what();
      }
    });
    if (!acceptor) {
      listener.reset();  // closes the loops' acceptors started so far
      throw SetupError("cannot start accepting on " + bound.name + ": " + error);
    }
    listener->add(loops[i], acceptor);
  }
  return listener;
}

}  // namespace spool::core
