#include "server_handler.h"

#include "spool/log.h"

namespace spoold {

void ServerHandler::onOpen(spool::Connection& conn) {
  ctx_.connections.add(conn.id(), conn.peerAddress(), ctx_.clock.now());
  if (ctx_.verbosity.load(std::memory_order_relaxed) > 1) {
    spool::log(spool::LogLevel::kInfo, "<{} new client connection from {}", conn.id(), conn.peerAddress());
  }
  pipeline_ = std::make_shared<RequestPipeline>(ctx_, conn.ptr(), pool_, metadump_);
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
  ctx_.connections.remove(conn.id());
  if (reason.code == spool::CloseCode::kIdleTimeout) {
    ctx_.stats.add(Counter::kIdleKicks);  // memcached's idle_kicks
  }
  if (ctx_.verbosity.load(std::memory_order_relaxed) > 1) {
    spool::log(spool::LogLevel::kInfo, ">{} connection closed: {}", conn.id(), reason.describe());
  }
}

}  // namespace spoold
