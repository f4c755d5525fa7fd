// stream_server: worker threads push framed messages (frame.h) to loopback
// TCP clients, through spool, a libevent baseline or (built with folly)
// folly's own handoff. Prints "listening on 127.0.0.1:PORT" on stderr once
// ready and one JSON line on stdout at exit (after the clients disconnect,
// --max-seconds, or SIGINT/SIGTERM).
#include <event2/thread.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <exception>
#include <memory>
#include <string>

#include "cli.h"
#include "frame.h"
#include "json.h"
#include "producers.h"
#include "stream_mode.h"
#include "usage.h"

using namespace spool::bench;

namespace {

volatile std::sig_atomic_t g_signalled = 0;
void onSignal(int) { g_signalled = 1; }

// Only a build with folly offers (and its --help names) the folly modes:
// bench/run.sh looks for them there.
#ifdef SPOOL_BENCH_HAVE_FOLLY
#define SPOOL_BENCH_FOLLY_MODES_HELP                                                        \
  ",\nfolly-post (EventBase::runInEventBaseThread per message, AsyncSocket::writeChain),\n" \
  "folly-wait (runInEventBaseThreadAndWait per message)"
constexpr const char* kModeList = "spool | loop | raw-loop | post | locked | folly-post | folly-wait";
#else
#define SPOOL_BENCH_FOLLY_MODES_HELP ""
constexpr const char* kModeList = "spool | loop | raw-loop | post | locked";
#endif

enum class ModeFamily { kSpool, kLibevent, kFolly, kUnknown };

/// Modes where the loop generates the frames and no producer runs.
bool generatesOnLoop(const std::string& mode) { return mode == "loop" || mode == "raw-loop"; }

ModeFamily familyOf(const std::string& mode) {
  if (mode == "spool" || mode == "loop") {
    return ModeFamily::kSpool;
  }
  if (mode == "post" || mode == "locked" || mode == "raw-loop") {
    return ModeFamily::kLibevent;
  }
  if (mode == "folly-post" || mode == "folly-wait") {
    return ModeFamily::kFolly;
  }
  return ModeFamily::kUnknown;
}

/// Whether this build can serve `config.mode` as configured; says why not on stderr.
bool modeUsable(const StreamConfig& config, ModeFamily family) {
  if (family == ModeFamily::kUnknown) {
    std::fprintf(stderr, "stream_server: unknown mode '%s'\n", config.mode.c_str());
    return false;
  }
#ifndef SPOOL_BENCH_HAVE_FOLLY
  if (family == ModeFamily::kFolly) {
    std::fprintf(stderr, "stream_server: mode '%s' needs folly: cmake -DSPOOL_BENCH_FOLLY=ON\n",
                 config.mode.c_str());
    return false;
  }
#endif
  if (config.tls() && family != ModeFamily::kSpool && config.mode != "raw-loop") {
    // Of the baselines only raw-loop has TLS (OpenSSL on the socket, the
    // loop generating: the TLS upper bound). post and locked measure a
    // handoff, which TLS would only hide, and the folly modes measure
    // folly's handoff, not its TLS.
    std::fprintf(stderr, "stream_server: TLS is for the spool, loop and raw-loop modes only, not '%s'\n",
                 config.mode.c_str());
    return false;
  }
  return true;
}

std::unique_ptr<StreamMode> makeMode(const StreamConfig& config, SlotRegistry& registry,
                                     ModeFamily family) {
  switch (family) {
    case ModeFamily::kLibevent:
      if (config.mode != "raw-loop") {
        evthread_use_pthreads();  // before any event_base: post and locked need libevent's locks
      }
      return makeLibeventStreamMode(config, registry);
#ifdef SPOOL_BENCH_HAVE_FOLLY
    case ModeFamily::kFolly: return makeFollyStreamMode(config, registry);
#endif
    default: return makeSpoolStreamMode(config, registry);
  }
}

}  // namespace

int main(int argc, char** argv) {
  StreamConfig config;
  unsigned port = 0;
  std::uint64_t msg_size = config.msg_size;
  std::uint64_t window = config.window;
  ArgParser args(
      "stream_server",
      "Producers push [u32 len][u64 ts][u64 seq, pattern] messages to every client.\n"
      "modes: spool (producers -> Connection::send), loop (generated on the loop\n"
      "thread: no handoff), raw-loop (plain libevent, generated on the loop thread\n"
      "into the buffer it sends from, TLS with --tls-cert: the upper bound), post (mutex +\n"
      "event_active), locked (the producer copies into the connection's output under\n"
      "its lock, which the loop holds while writing)" SPOOL_BENCH_FOLLY_MODES_HELP);
  args.add("port", &port, "TCP port on 127.0.0.1 (0: any free port)");
  args.add("loops", &config.loops, "loop threads");
  args.add("producers", &config.producers, "producer threads (ignored in loop and raw-loop modes)");
  args.add("msg-size", &msg_size, "bytes per message on the wire, header included");
  args.add("window", &window, "accepted-but-unwritten bytes per connection, at most");
  args.add("mode", &config.mode, kModeList);
  args.add("max-seconds", &config.max_seconds, "exit after this long even if clients remain");
  args.add("tls-cert", &config.tls_cert, "PEM certificate chain: serve TLS (spool, loop and raw-loop modes)");
  args.add("tls-key", &config.tls_key, "PEM private key of --tls-cert");
  args.parse(argc, argv);
  config.port = static_cast<std::uint16_t>(port);
  config.msg_size = msg_size;
  config.window = window;
  if (msg_size < kMinMessageBytes || msg_size > kMaxMessageBytes || config.loops == 0 ||
      config.producers == 0 || window < msg_size || port > 65535) {
    std::fprintf(stderr, "stream_server: need %zu <= msg-size <= %zu <= window, loops and producers > 0\n",
                 kMinMessageBytes, kMaxMessageBytes);
    return 2;
  }
  if (config.tls_cert.empty() != config.tls_key.empty()) {
    std::fprintf(stderr, "stream_server: --tls-cert and --tls-key go together\n");
    return 2;
  }
  const ModeFamily family = familyOf(config.mode);
  if (!modeUsable(config, family)) {
    return 2;
  }
  std::signal(SIGPIPE, SIG_IGN);
  std::signal(SIGINT, onSignal);
  std::signal(SIGTERM, onSignal);

  SlotRegistry registry(config.producers);
  auto mode = makeMode(config, registry, family);
  const auto started = std::chrono::steady_clock::now();
  std::uint16_t bound = 0;
  try {
    bound = mode->start();
  } catch (const std::exception& e) {  // a bad certificate or key, a port in use
    std::fprintf(stderr, "stream_server: %s\n", e.what());
    return 1;
  }
  std::fprintf(stderr, "listening on 127.0.0.1:%u\n", bound);
  std::fflush(stderr);

  ProducerPool producers(registry);
  if (!generatesOnLoop(config.mode)) {
    producers.start();
  }
  const auto limit = started + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                   std::chrono::duration<double>(config.max_seconds));
  const bool clients_done = registry.waitForClientsDone(limit, [] { return g_signalled != 0; });
  producers.stop();
  mode->stop();
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  const ProcessCpu cpu = ProcessCpu::now();

  JsonObject o;
  o.add("mode", config.mode)
      .add("msgs_sent", producers.sent() + mode->loopMessages())
      .add("cpu_user_s", cpu.user_s)
      .add("cpu_sys_s", cpu.sys_s)
      .add("seconds", elapsed)
      .add("loops", config.loops)
      .add("producers", generatesOnLoop(config.mode) ? 0u : config.producers)
      .add("msg_size", std::uint64_t{config.msg_size})
      .add("window", std::uint64_t{config.window})
      .add("tls", config.tls())
      .add("clients_done", clients_done);
  if (const auto stats = mode->statsJson(); !stats.empty()) {
    o.raw("transport", stats);
  }
  std::printf("%s\n", o.str().c_str());
  return 0;
}
