// One mcload run: prefill, client threads, measurement, report.
#pragma once

#include <cstdint>
#include <string>

#include "client_channel.h"
#include "mc_protocol.h"

namespace spool::bench {

struct LoadConfig {
  std::string host = "127.0.0.1";
  unsigned port = 11211;
  std::string protocol = "binary";
  bool tls = false;
  std::string tls_ca;
  unsigned conns = 10;
  unsigned threads = 1;
  unsigned depth = 1;
  double set_ratio = 0.0;
  std::uint64_t key_count = 10000;
  unsigned key_size = 16;
  std::uint64_t value_size = 32;
  double warmup = 1.0;
  double duration = 5.0;
  int server_pid = 0;
  bool no_prefill = false;
  /// Open loop: requests per second offered in all, spread evenly over the
  /// connections (each issues one every conns/rate seconds, staggered);
  /// latency counts from each request's scheduled time. 0: closed loop
  /// (every connection keeps `depth` requests in flight).
  double rate = 0;
  /// Connections opened (plain TCP, one after another, each answered once)
  /// before the load and left idle and open while it runs; the report gives
  /// how long they took and the server's RSS growth per connection.
  unsigned idle_conns = 0;
};

/// Stores every key once so that gets hit. False (with a message) on failure.
bool prefill(const LoadConfig& config, const TlsClient& tls, const KeySpace& keys);
/// Runs the load and prints the report (JSON or a table). Returns the exit
/// status: 1 when any response was wrong or nothing completed.
int runLoad(const LoadConfig& config, const TlsClient& tls, const KeySpace& keys, bool json);

}  // namespace spool::bench
