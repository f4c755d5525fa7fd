#include "folly_transport.h"

#include <folly/portability/Event.h>

#include "folly_connection.h"
#include "folly_listener.h"

namespace spool {

std::unique_ptr<Transport> Transport::create(const TransportOptions& options) {
  return std::make_unique<folly_backend::FollyTransport>(options);
}

const char* Transport::libeventVersion() noexcept { return event_get_version(); }

}  // namespace spool

namespace spool::folly_backend {

spool::ListenerPtr FollyTransport::listenOn(const std::vector<LoopPtr>& loops, const ListenOptions& options,
                                     HandlerFactory factory) {
  return listenOnLoops(loops, options, std::move(factory));
}

ConnectionPtr FollyTransport::connectOn(const LoopPtr& loop, const ConnectOptions& options,
                                        const core::SocketAddress& address, HandlerPtr handler) {
  std::shared_ptr<const FollyTls> tls;
  if (options.tls) {
    tls = client_tls_.get(*options.tls, [&] {
      return std::make_shared<const FollyTls>(core::TlsContext::create(*options.tls, core::TlsContext::Role::kClient));
    });
  }
  auto conn = FollyConnection::create(loop, std::move(handler), options.connection, address.toString(),
                                      std::move(tls));
  conn->connectTo(address);
  return conn;
}

}  // namespace spool::folly_backend
