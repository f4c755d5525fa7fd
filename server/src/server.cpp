#include "server.h"

#include <chrono>
#include <string_view>

#include "server_handler.h"
#include "spool/errors.h"

namespace spoold {

namespace {

/// memcached's -Z and -o ssl_* as spool's TLS settings.
spool::TlsConfig tlsConfig(const Settings& s) {
  spool::TlsConfig tls;
  tls.certificate_chain_file = s.ssl_chain_cert;
  tls.private_key_file = s.ssl_key;
  tls.ca_file = s.ssl_ca_cert;
  switch (s.ssl_verify_mode) {
    case 0: tls.verify_peer = spool::PeerVerification::kNone; break;
    case 1: tls.verify_peer = spool::PeerVerification::kOptional; break;
    default: tls.verify_peer = spool::PeerVerification::kRequired; break;  // 2 require, 3 once
  }
  tls.min_version = s.ssl_min_version == "tlsv1.3" ? spool::TlsVersion::kTls13 : spool::TlsVersion::kTls12;
  tls.cipher_list = s.ssl_ciphers;
  return tls;
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
    pool_ = std::make_unique<WorkerPool>(s.workers);
  }
  metadump_ = std::make_unique<MetadumpService>(ctx_.store);
  spool::TransportOptions options;
  options.name = "spoold";
  options.loops = s.threads;
  // memcached's -c: the transport accepts, writes the refusal, and closes.
  options.max_connections = s.max_connections;
  transport_ = spool::Transport::create(options);
  transport_->start();
  ctx_.transport_stats = [transport = transport_.get()] { return transport->stats(); };

  WorkerPool* pool = pool_.get();
  MetadumpService* metadump = metadump_.get();
  ServerContext* ctx = &ctx_;
  const auto factory = [ctx, pool, metadump] {
    return std::make_unique<ServerHandler>(*ctx, pool, *metadump);
  };
  std::string_view hosts = s.listen;
  std::uint16_t port = s.port;
  while (!hosts.empty()) {
    const std::size_t comma = hosts.find(',');
    spool::ListenOptions listen;
    listen.host = std::string(hosts.substr(0, comma));
    listen.port = port;
    listen.reject_message = "ERROR Too many open connections\r\n";
    listen.connection.idle_timeout = std::chrono::seconds(s.idle_timeout);
    listen.connection.handshake_timeout = std::chrono::seconds(s.ssl_handshake_timeout);
    if (s.tls) {
      listen.tls = tlsConfig(s);
    }
    listeners_.push_back(transport_->listen(listen, factory));
    port = listeners_.front()->port();  // port 0: every address gets the first one's port
    hosts = comma == std::string_view::npos ? std::string_view{} : hosts.substr(comma + 1);
  }
  port_ = listeners_.empty() ? 0 : listeners_.front()->port();
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
  transport_->stop();  // graceful close: flushes what was sent
  if (pool_) {
    pool_->stop();
  }
  ctx_.transport_stats = nullptr;
}

}  // namespace spoold
