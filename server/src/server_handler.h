// The spool ConnectionHandler of spoold: thin glue to RequestPipeline.
#pragma once

#include <memory>

#include "metadump.h"
#include "request_pipeline.h"
#include "server_context.h"
#include "spool/handler.h"
#include "worker_pool.h"

namespace spoold {

/// One per connection; every callback runs on the connection's loop thread
/// and forwards to the connection's RequestPipeline. (The connection limit,
/// -c, is the transport's: a refused client never reaches a handler.)
class ServerHandler final : public spool::ConnectionHandler {
 public:
  /// @param pool null for inline mode.
  ServerHandler(ServerContext& ctx, WorkerPool* pool, MetadumpService& metadump)
      : ctx_(ctx), pool_(pool), metadump_(metadump) {}

  // ConnectionHandler
  void onOpen(spool::Connection& conn) override;
  void onData(spool::Connection& conn, spool::InputBuffer& input) override;
  void onWritable(spool::Connection& conn) override;
  bool onPeerShutdown(spool::Connection& conn) override;
  void onClose(spool::Connection& conn, const spool::CloseReason& reason) override;

 private:
  ServerContext& ctx_;
  WorkerPool* const pool_;  // non-owning
  MetadumpService& metadump_;
  std::shared_ptr<RequestPipeline> pipeline_;  // made in onOpen (after a TLS handshake)
};

}  // namespace spoold
