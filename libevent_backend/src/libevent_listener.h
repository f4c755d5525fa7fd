// A listening port served by every loop through SO_REUSEPORT sockets.
#pragma once

#include <memory>
#include <vector>

#include "event_loop.h"
#include "spool/transport.h"

namespace spool::libevent {

/// Binds one SO_REUSEPORT socket per loop and accepts on each with the
/// loop's own evconnlistener: the kernel spreads connections and no loop
/// ever waits on another. The Listener (core::ListenerCore) is thread-safe.
/// @throws SetupError (AddressInUseError when another socket holds the address).
std::shared_ptr<Listener> listenOnLoops(const std::vector<std::shared_ptr<EventLoop>>& loops,
                                        const ListenOptions& options, HandlerFactory factory);

}  // namespace spool::libevent
