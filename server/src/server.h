// spoold as a library: the transport, the listener, the workers and the store.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "metadump.h"
#include "server_context.h"
#include "settings.h"
#include "spool/transport.h"
#include "worker_pool.h"

namespace spoold {

/// A running memcached-compatible server. Used by main() and, in process,
/// by the tests (port 0 picks a free port).
///
/// Thread-safe: start() once, then stop() from any thread but a loop thread.
class Server {
 public:
  explicit Server(const Settings& settings);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /// Starts the loops, the worker pool and the listeners.
  /// @throws spool::SetupError when an address cannot be bound or the -Y
  ///         file cannot be read.
  void start();
  /// Stops accepting, lets the worker pool finish the commands already
  /// received, then closes every connection gracefully (flushing what was
  /// sent) and joins every thread. Idempotent.
  void stop();

  /// The port of the first listener (the bound one when settings asked for
  /// 0); 0 when listening on a Unix socket (-s).
  [[nodiscard]] std::uint16_t port() const noexcept { return port_; }
  [[nodiscard]] ServerContext& context() noexcept { return ctx_; }
  /// Worker threads of --exec=workers (0 inline, or before start()).
  [[nodiscard]] unsigned workerThreads() const noexcept { return pool_ ? pool_->size() : 0; }

 private:
  /// The listeners of -l (TCP, some with TLS).
  void listenTcp(const spool::HandlerFactory& factory);
  /// refresh_certs: any thread (a loop thread in inline mode).
  std::string refreshCerts();

  ServerContext ctx_;
  std::unique_ptr<WorkerPool> pool_;
  std::unique_ptr<MetadumpService> metadump_;
  std::unique_ptr<spool::Transport> transport_;
  std::vector<spool::ListenerPtr> listeners_;
  std::mutex tls_mutex_;                           ///< guards tls_listeners_
  std::vector<spool::ListenerPtr> tls_listeners_;  ///< those of listeners_ with TLS
  std::uint16_t port_ = 0;
  std::mutex lifecycle_mutex_;
  bool stopped_ = false;
};

}  // namespace spoold
