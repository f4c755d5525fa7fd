// The folly implementation of spool::Transport.
#pragma once

#include "folly_connection.h"
#include "folly_loop.h"
#include "tls_context_cache.h"
#include "transport_core.h"

namespace spool::folly_backend {

/// core::TransportCore over folly EventBase loops. Thread-safe, except that
/// start() and stop() must not run on a loop thread.
class FollyTransport final : public core::TransportCore<FollyLoop> {
 public:
  using TransportCore::TransportCore;

 private:
  // core::TransportCore
  spool::ListenerPtr listenOn(const std::vector<LoopPtr>& loops, const ListenOptions& options,
                       HandlerFactory factory) override;
  ConnectionPtr connectOn(const LoopPtr& loop, const ConnectOptions& options, const core::SocketAddress& address,
                          HandlerPtr handler) override;

  core::TlsContextCache<FollyTls> client_tls_;
};

}  // namespace spool::folly_backend
