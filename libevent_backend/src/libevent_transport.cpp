#include "libevent_transport.h"

#include <event2/event.h>

#include "libevent_connection.h"
#include "libevent_listener.h"
#include "tls_context.h"

namespace spool {

std::unique_ptr<Transport> Transport::create(const TransportOptions& options) {
  return std::make_unique<libevent::LibeventTransport>(options);
}

const char* Transport::libeventVersion() noexcept { return event_get_version(); }

}  // namespace spool

namespace spool::libevent {

spool::ListenerPtr LibeventTransport::listenOn(const std::vector<LoopPtr>& loops, const ListenOptions& options,
                                        HandlerFactory factory) {
  return listenOnLoops(loops, options, std::move(factory));
}

ConnectionPtr LibeventTransport::connectOn(const LoopPtr& loop, const ConnectOptions& options,
                                           const core::SocketAddress& address, HandlerPtr handler) {
  std::shared_ptr<const TlsContext> tls;
  if (options.tls) {
    tls = client_tls_.get(*options.tls, [&] { return TlsContext::create(*options.tls, TlsContext::Role::kClient); });
  }
  auto conn = LibeventConnection::create(loop, std::move(handler), options.connection, address.toString(),
                                         std::move(tls));
  conn->connectTo(address);
  return conn;
}

}  // namespace spool::libevent
