// The libevent implementation of spool::Transport.
#pragma once

#include "event_loop.h"
#include "tls_context.h"
#include "tls_context_cache.h"
#include "transport_core.h"

namespace spool::libevent {

/// core::TransportCore over libevent loops. Thread-safe, except that start()
/// and stop() must not run on a loop thread.
class LibeventTransport final : public core::TransportCore<EventLoop> {
 public:
  using TransportCore::TransportCore;

 private:
  // core::TransportCore
  spool::ListenerPtr listenOn(const std::vector<LoopPtr>& loops, const ListenOptions& options,
                       HandlerFactory factory) override;
  ConnectionPtr connectOn(const LoopPtr& loop, const ConnectOptions& options, const core::SocketAddress& address,
                          HandlerPtr handler) override;

  core::TlsContextCache<core::TlsContext> client_tls_;
};

}  // namespace spool::libevent
