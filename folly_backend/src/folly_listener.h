// A listening port served by every loop through SO_REUSEPORT sockets.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "folly_loop.h"
#include "spool/transport.h"

namespace spool::folly_backend {

/// One SO_REUSEPORT socket per loop, each accepted by a folly
/// AsyncServerSocket on its own loop: the kernel spreads connections and no
/// loop ever waits on another. Thread-safe.
class FollyListener final : public Listener {
 public:
  /// Binds and starts accepting on every loop.
  /// @throws SetupError when the address cannot be resolved or bound.
  static std::shared_ptr<FollyListener> create(const std::vector<std::shared_ptr<FollyLoop>>& loops,
                                               const ListenOptions& options, HandlerFactory factory);
  ~FollyListener() override;

  // Listener
  [[nodiscard]] std::uint16_t port() const noexcept override { return port_; }
  void close() override;

  struct Acceptor;  // one loop's share; defined in the .cpp

 private:
  FollyListener() = default;

  std::uint16_t port_ = 0;
  // The loops own the acceptors (and free them on their own thread at stop);
  // the listener only reaches them to close early.
  std::vector<std::weak_ptr<Acceptor>> acceptors_;
  std::vector<std::shared_ptr<FollyLoop>> loops_;
};

}  // namespace spool::folly_backend
