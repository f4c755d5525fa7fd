#include "server_handler.h"

#include <fmt/format.h>

#include "spool/log.h"

namespace spoold {
namespace {

/// memcached's connevents body: "type=<type> rip=<ip> rport=<port> transport=tcp [reason=<r>]
/// cfd=<id>".
std::string connEvent(spool::Connection& conn, std::string_view type, std::string_view reason) {
  const std::string& peer = conn.peerAddress();  // "1.2.3.4:5", "[::1]:5" or "unix:<path>"
  const std::size_t colon = peer.rfind(':');
  std::string_view ip = std::string_view(peer).substr(0, colon);
  if (ip.size() >= 2 && ip.front() == '[') {
    ip = ip.substr(1, ip.size() - 2);
  }
  const bool local = peer.starts_with("unix:");
  return fmt::format("type={} rip={} rport={} transport={}{}{} cfd={}", type, local ? "" : ip,
                     local ? "0" : std::string_view(peer).substr(colon + 1),
                     local ? "local" : "tcp", reason.empty() ? "" : " reason=", reason, conn.id());
}

std::string_view closeReason(const spool::CloseReason& reason) {
  switch (reason.code) {
    case spool::CloseCode::kIdleTimeout: return "idle_timeout";
    case spool::CloseCode::kIoError:
    case spool::CloseCode::kTlsError:
    case spool::CloseCode::kSendQueueStuck: return "error";
    case spool::CloseCode::kTransportStopped: return "shutdown";
    default: return "normal";
  }
}

}  // namespace

void ServerHandler::onOpen(spool::Connection& conn) {
  ctx_.connections.add(conn.id(), conn.peerAddress(), ctx_.clock.now());
  if (ctx_.verbosity.load(std::memory_order_relaxed) > 1) {
    spool::log(spool::LogLevel::kInfo, "<{} new client connection from {}", conn.id(), conn.peerAddress());
  }
  pipeline_ = std::make_shared<RequestPipeline>(ctx_, conn.ptr(), pool_, metadump_);
  if (ctx_.watch.wants(kWatchConnEvents)) {
    ctx_.watch.publish(kWatchConnEvents, connEvent(conn, "conn_new", {}));
  }
}

void ServerHandler::onData(spool::Connection& /*conn*/, spool::InputBuffer& input) {
  pipeline_->onData(input);
}

void ServerHandler::onWritable(spool::Connection& /*conn*/) { pipeline_->onWritable(); }

bool ServerHandler::onPeerShutdown(spool::Connection& /*conn*/) {
  // Keep the write side open: responses to what was read may still be on
  // their way (from a worker); the pipeline closes once they are sent.
  pipeline_->onPeerShutdown();
  return true;
}

void ServerHandler::onClose(spool::Connection& conn, const spool::CloseReason& reason) {
  if (!pipeline_) {
    return;  // never opened: a TLS handshake that failed
  }
  pipeline_->onClose();
  ctx_.watch.remove(conn.id());
  if (ctx_.watch.wants(kWatchConnEvents)) {
    ctx_.watch.publish(kWatchConnEvents, connEvent(conn, "conn_close", closeReason(reason)));
  }
  ctx_.connections.remove(conn.id());
  if (reason.code == spool::CloseCode::kIdleTimeout) {
    ctx_.stats.add(Counter::kIdleKicks);  // memcached's idle_kicks
  }
  if (ctx_.verbosity.load(std::memory_order_relaxed) > 1) {
    spool::log(spool::LogLevel::kInfo, ">{} connection closed: {}", conn.id(), reason.describe());
  }
}

}  // namespace spoold
