// mcload: a memcached-protocol load generator (text, meta, binary; optional
// TLS). Every response is parsed and checked; exit status 1 on any mismatch.
#include <algorithm>
#include <cstdio>
#include <stdexcept>

#include "cli.h"
#include "load_run.h"

using namespace spool::bench;

int main(int argc, char** argv) {
  LoadConfig config;
  bool json = false;
  ArgParser args("mcload", "memcached load generator: get/set mix over text, meta or binary, optional TLS;\n"
                           "checks every response; reports ops/s, latency percentiles and server CPU.");
  args.add("host", &config.host, "server IPv4 address");
  args.add("port", &config.port, "server port");
  args.add("protocol", &config.protocol, "text | meta | binary");
  args.add("tls", &config.tls, "connect with TLS");
  args.add("tls-ca", &config.tls_ca, "CA file to verify the server (default: no verification)");
  args.add("conns", &config.conns, "connections in all");
  args.add("threads", &config.threads, "client threads (connections split between them)");
  args.add("depth", &config.depth, "requests in flight per connection (pipeline depth; with --rate, the most)");
  args.add("rate", &config.rate,
           "open loop: requests/s offered in all, at fixed intervals; latency from each request's\n"
           "scheduled time (0: closed loop, each connection keeps --depth in flight)");
  args.add("set-ratio", &config.set_ratio, "fraction of requests that are sets (0..1)");
  args.add("keys", &config.key_count, "distinct keys");
  args.add("key-size", &config.key_size, "bytes per key");
  args.add("value-size", &config.value_size, "bytes per value");
  args.add("warmup", &config.warmup, "seconds run but not counted");
  args.add("duration", &config.duration, "seconds measured after the warm-up");
  args.add("idle-conns", &config.idle_conns,
           "first open this many more connections (plain TCP), each answered once, and keep them\n"
           "idle during the load; reports the time taken and the server's RSS per idle connection");
  args.add("server-pid", &config.server_pid, "server process: report its CPU seconds in the measured window");
  args.add("no-prefill", &config.no_prefill, "do not store every key before the run");
  args.add("json", &json, "print one JSON object instead of a table");
  args.parse(argc, argv);
  if (!makeMcProtocol(config.protocol) || config.conns == 0 || config.threads == 0 || config.depth == 0 ||
      config.key_count == 0 || config.key_size < KeySpace::minKeySize(config.key_count) || config.key_size > 250 ||
      config.value_size == 0 || config.value_size > (1 << 20) || config.set_ratio < 0 || config.set_ratio > 1 || config.rate < 0 ||
      config.duration <= 0 || (config.idle_conns > 0 && config.tls)) {
    std::fprintf(stderr, "mcload: bad configuration (protocol text|meta|binary; key-size >= %u for %llu keys; "
                 "1 <= value-size <= 1 MiB; 0 <= set-ratio <= 1; --idle-conns without --tls)\n",
                 KeySpace::minKeySize(config.key_count), static_cast<unsigned long long>(config.key_count));
    return 2;
  }
  config.threads = std::min(config.threads, config.conns);
  const KeySpace keys(config.key_count, config.key_size, config.value_size);
  try {
    const TlsClient tls = config.tls ? TlsClient::create(config.tls_ca) : TlsClient{};
    if (config.set_ratio < 1.0 && !config.no_prefill && !prefill(config, tls, keys)) {
      return 1;
    }
    return runLoad(config, tls, keys, json);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mcload: %s\n", e.what());
    return 1;
  }
}
