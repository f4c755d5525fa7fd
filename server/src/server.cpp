#include "server.h"

#include <pwd.h>
#include <unistd.h>

#include <chrono>
#include <string_view>

#include "server_handler.h"
#include "spool/errors.h"
#include "tls_options.h"

namespace spoold {

namespace {

spool::ListenOptions listenOptions(const Settings& s) {
  spool::ListenOptions listen;
  listen.backlog = s.backlog;
  listen.reject_message = "ERROR Too many open connections\r\n";
  listen.connection.idle_timeout = std::chrono::seconds(s.idle_timeout);
  listen.connection.handshake_timeout = std::chrono::seconds(s.ssl_handshake_timeout);
  return listen;
}

/// As root with -u: the Unix socket file belongs to that user and its
/// primary group, as memcached's (which binds after switching), so that
/// spoold, once it is that user, can connect to it under -a 700 and remove
/// it at exit, even from a sticky directory such as /tmp.
void giveToUser(const Settings& s, spool::ListenOptions& listen) {
  if (s.user.empty() || ::geteuid() != 0) {
    return;  // not root: -u is ignored, as memcached does
  }
  if (const passwd* pw = ::getpwnam(s.user.c_str())) {  // checkUser() refused unknown users
    listen.unix_uid = pw->pw_uid;
    listen.unix_gid = pw->pw_gid;
  }
}

}  // namespace

Server::Server(const Settings& settings) : ctx_(settings) {}

Server::~Server() { stop(); }

void Server::start() {
  std::lock_guard lock(lifecycle_mutex_);
  const Settings& s = ctx_.settings;
  if (std::string error; !s.auth_file.empty() && !ctx_.auth.load(s.auth_file, error)) {
    throw spool::SetupError(error);  // before any thread starts: nothing to undo
  }
  if (s.exec == ExecMode::kWorkers) {
    pool_ = std::make_unique<WorkerPool>(workerThreadsOf(s));
  }
  metadump_ = std::make_unique<MetadumpService>(ctx_.store);
  ctx_.maintainer.start();
  spool::TransportOptions options;
  options.name = "spoold";
  options.loops = s.threads;
  // memcached's -c: the transport accepts, writes the refusal, and closes.
  options.max_connections = s.max_connections;
  transport_ = spool::Transport::create(options);
  transport_->start();
  ctx_.transport_stats = [transport = transport_.get()] { return transport->stats(); };
  ctx_.crawler_stats = [metadump = metadump_.get()] {
    return ServerContext::CrawlerStats{metadump->running(), metadump->starts()};
  };

  WorkerPool* pool = pool_.get();
  MetadumpService* metadump = metadump_.get();
  ServerContext* ctx = &ctx_;
  const auto factory = [ctx, pool, metadump] {
    return std::make_unique<ServerHandler>(*ctx, pool, *metadump);
  };
  ctx_.cert_refreshed_at.store(ctx_.clock.now());
  ctx_.refresh_certs = [this] { return refreshCerts(); };  // before the first client
  if (!s.unix_socket.empty()) {
    // As memcached: -s replaces TCP (-l and -p are ignored), and the Unix
    // socket is plain even with -Z.
    spool::ListenOptions listen = listenOptions(s);
    listen.unix_path = s.unix_socket;
    listen.unix_mode = s.unix_mask;
    giveToUser(s, listen);
    if (s.tls) {
      spool::Transport::checkServerTls(
          tlsConfig(s));  // memcached loads them at start-up all the same
    }
    listeners_.push_back(transport_->listen(listen, factory));
  } else {
    listenTcp(factory);
  }
  port_ = listeners_.empty() ? 0 : listeners_.front()->port();
}

void Server::listenTcp(const spool::HandlerFactory& factory) {
  const Settings& s = ctx_.settings;
  std::vector<ListenAddress> addresses;
  std::string error;
  if (!parseListenList(s.listen, s.port, s.tls, addresses, error)) {
    throw spool::SetupError("-l " + s.listen + ": " + error);
  }
  std::uint16_t first_port = 0;
  for (const ListenAddress& address : addresses) {
    spool::ListenOptions listen = listenOptions(s);
    listen.host = address.host;
    // Port 0 with more than one address: each gets the first one's port.
    listen.port = address.port == 0 && first_port != 0 ? first_port : address.port;
    if (address.tls) {
      listen.tls = tlsConfig(s);
    }
    auto listener = transport_->listen(listen, factory);
    if (address.tls) {
      std::lock_guard lock(tls_mutex_);
      tls_listeners_.push_back(listener);
    }
    first_port = first_port == 0 ? listener->port() : first_port;
    listeners_.push_back(std::move(listener));
  }
}

std::string Server::refreshCerts() {
  if (!ctx_.settings.tls) {
    return "Error TLS not enabled\r\n";
  }
  const spool::TlsConfig tls = tlsConfig(ctx_.settings);
  try {
    std::lock_guard lock(
        tls_mutex_);  // one refresh at a time; start() may still be adding listeners
    if (tls_listeners_.empty()) {
      spool::Transport::checkServerTls(
          tls);  // -s: no TLS listener, but the files are checked as memcached does
    }
    for (const auto& listener : tls_listeners_) {
      listener->replaceTls(tls);
    }
  } catch (const spool::TlsFileError& e) {
    return refreshCertsError(e);
  } catch (const spool::SetupError& e) {
    return std::string("Error ") + e.what() + "\r\n";
  }
  ctx_.cert_refreshed_at.store(ctx_.clock.now());
  return {};
}

void Server::stop() {
  std::lock_guard lock(lifecycle_mutex_);
  if (stopped_ || !transport_) {
    stopped_ = true;
    return;
  }
  stopped_ = true;
  for (auto& listener : listeners_) {
    listener->close();  // no new connections from here on
  }
  if (pool_) {
    pool_->drain();  // commands already received get their responses sent
  }
  metadump_->stop();
  ctx_.maintainer.stop();
  ctx_.watch.stop();   // releases the watchers' connections before the transport goes
  transport_->stop();  // graceful close: flushes what was sent
  if (pool_) {
    pool_->stop();
  }
  ctx_.transport_stats = nullptr;
  ctx_.crawler_stats = nullptr;
  ctx_.refresh_certs = nullptr;
}

}  // namespace spoold
