// stream_server: worker threads push framed messages (frame.h) to loopback
// TCP clients, through spool or a libevent baseline. Prints
// "listening on 127.0.0.1:PORT" on stderr once ready and one JSON line on
// stdout at exit (after the clients disconnect, --max-seconds, or SIGINT/SIGTERM).
#include <event2/thread.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <exception>

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

}  // namespace

int main(int argc, char** argv) {
  StreamConfig config;
  unsigned port = 0;
  std::uint64_t msg_size = config.msg_size;
  std::uint64_t window = config.window;
  ArgParser args("stream_server",
                 "Producers push [u32 len][u64 ts][u64 seq, pattern] messages to every client.\n"
                 "modes: spool (producers -> Connection::send), loop (generated on the loop\n"
                 "thread: no handoff), post (mutex + event_active), threadsafe (bufferevent_write\n"
                 "from the producer on a BEV_OPT_THREADSAFE bufferevent)");
  args.add("port", &port, "TCP port on 127.0.0.1 (0: any free port)");
  args.add("loops", &config.loops, "loop threads");
  args.add("producers", &config.producers, "producer threads (ignored in loop mode)");
  args.add("msg-size", &msg_size, "bytes per message on the wire, header included");
  args.add("window", &window, "accepted-but-unwritten bytes per connection, at most");
  args.add("mode", &config.mode, "spool | loop | post | threadsafe");
  args.add("max-seconds", &config.max_seconds, "exit after this long even if clients remain");
  args.add("tls-cert", &config.tls_cert, "PEM certificate chain: serve TLS (spool and loop modes)");
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
  const bool libevent_mode = config.mode == "post" || config.mode == "threadsafe";
  if (!libevent_mode && config.mode != "spool" && config.mode != "loop") {
    std::fprintf(stderr, "stream_server: unknown mode '%s'\n", config.mode.c_str());
    return 2;
  }
  if (config.tls_cert.empty() != config.tls_key.empty()) {
    std::fprintf(stderr, "stream_server: --tls-cert and --tls-key go together\n");
    return 2;
  }
  if (config.tls() && libevent_mode) {
    // The baselines drive libevent directly and have no TLS of their own;
    // bufferevent_openssl from a producer would measure its locks, not TLS.
    std::fprintf(stderr, "stream_server: TLS is for the spool and loop modes only, not '%s'\n",
                 config.mode.c_str());
    return 2;
  }
  std::signal(SIGPIPE, SIG_IGN);
  std::signal(SIGINT, onSignal);
  std::signal(SIGTERM, onSignal);
  if (libevent_mode) {
    evthread_use_pthreads();  // before any event_base: the baselines need libevent's locks
  }

  SlotRegistry registry(config.producers);
  auto mode = libevent_mode ? makeLibeventStreamMode(config, registry) : makeSpoolStreamMode(config, registry);
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
  if (config.mode != "loop") {
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
      .add("producers", config.mode == "loop" ? 0u : config.producers)
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
