#include "libevent_transport.h"

#include <thread>

#include "libevent_connection.h"
#include "libevent_listener.h"
#include "socket_address.h"
#include "spool/errors.h"
#include "tls_context.h"

namespace spool {

std::unique_ptr<Transport> Transport::create(const TransportOptions& options) {
  return std::make_unique<libevent::LibeventTransport>(options);
}

}  // namespace spool

namespace spool::libevent {
namespace {
constexpr int kCreated = 0;
constexpr int kRunning = 1;
constexpr int kStopped = 2;
}  // namespace

LibeventTransport::LibeventTransport(const TransportOptions& options) : options_(options) {
  if (options_.loops == 0) {
    options_.loops = std::max(1u, std::thread::hardware_concurrency());
  }
  if (options_.drain_batch == 0) {
    options_.drain_batch = 1;
  }
  auto limit = std::make_shared<ConnectionLimit>(options_.max_connections);
  loops_.reserve(options_.loops);
  for (unsigned i = 0; i < options_.loops; ++i) {
    loops_.push_back(std::make_shared<EventLoop>(i, options_, limit));
  }
}

LibeventTransport::~LibeventTransport() { stop(); }

void LibeventTransport::start() {
  std::lock_guard lock(lifecycle_mutex_);
  if (phase_.load() != kCreated) {
    throw SetupError("Transport::start: already started or stopped");
  }
  for (auto& loop : loops_) {
    loop->start();
  }
  phase_.store(kRunning);
}

void LibeventTransport::stop() {
  std::lock_guard lock(lifecycle_mutex_);
  if (phase_.exchange(kStopped) == kStopped) {
    return;
  }
  for (auto& loop : loops_) {
    loop->requestStop();
  }
  for (auto& loop : loops_) {
    loop->joinAndRelease();
  }
}

void LibeventTransport::requireRunning(const char* what) const {
  if (phase_.load() != kRunning) {
    throw SetupError(std::string(what) + ": transport is not running");
  }
}

spool::ListenerPtr LibeventTransport::listen(const ListenOptions& options, HandlerFactory factory) {
  requireRunning("Transport::listen");
  if (!factory) {
    throw SetupError("Transport::listen: no handler factory");
  }
  return LibeventListener::create(loops_, options, std::move(factory));
}

ConnectionPtr LibeventTransport::connect(const ConnectOptions& options, HandlerPtr handler) {
  requireRunning("Transport::connect");
  if (!handler) {
    throw SetupError("Transport::connect: no handler");
  }
  const SocketAddress address = SocketAddress::resolve(options.host, options.port, false);
  std::shared_ptr<const TlsContext> tls;
  if (options.tls) {
    tls = TlsContext::create(*options.tls, TlsContext::Role::kClient);
  }
  auto& loop = loops_[next_loop_.fetch_add(1, std::memory_order_relaxed) % loops_.size()];
  auto conn = LibeventConnection::create(loop, std::move(handler), options.connection, address.toString(),
                                         std::move(tls));
  conn->connectTo(address);
  return conn;
}

std::vector<LoopStats> LibeventTransport::stats() const {
  std::vector<LoopStats> result;
  result.reserve(loops_.size());
  for (const auto& loop : loops_) {
    result.push_back(loop->stats());
  }
  return result;
}

}  // namespace spool::libevent
