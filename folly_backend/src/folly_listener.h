// A listening port served by every loop through SO_REUSEPORT sockets.
#pragma once

#include <memory>
#include <vector>

#include "folly_loop.h"
#include "spool/transport.h"

namespace spool::folly_backend {

/// Binds one SO_REUSEPORT socket per loop and accepts on each with a folly
/// AsyncServerSocket on that loop: the kernel spreads connections and no loop
/// ever waits on another. The Listener (core::ListenerCore) is thread-safe.
/// @throws SetupError (AddressInUseError when another socket holds the address).
std::shared_ptr<Listener> listenOnLoops(const std::vector<std::shared_ptr<FollyLoop>>& loops,
                                        const ListenOptions& options, HandlerFactory factory);

}  // namespace spool::folly_backend
