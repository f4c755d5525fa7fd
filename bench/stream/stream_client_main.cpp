// stream_client: connects to a stream_server (or anything speaking frame.h),
// over plain TCP or TLS, validates every frame, and prints one JSON line:
// msgs_per_s, mb_per_s, p50_us, p99_us, p999_us, max_us, frames_bad. Exit
// status 1 when any frame was bad, a connection or TLS handshake failed, or
// nothing arrived.
#include <cstdio>
#include <exception>
#include <memory>
#include <thread>
#include <vector>

#include "cli.h"
#include "json.h"
#include "stream_reader.h"
#include "usage.h"

using namespace spool::bench;

namespace {

// Reads of one connection per readiness event. recv() takes whatever the
// socket holds (up to 1.25 MiB); SSL_read returns one record (<= 16 KiB),
// so TLS needs more calls for the same share of the socket.
constexpr unsigned kPlainReadsPerWake = 4;
constexpr unsigned kTlsReadsPerWake = 64;

ReaderTally sum(const std::vector<ReaderTally>& tallies) {
  ReaderTally total;
  for (const auto& t : tallies) {
    total.stream.msgs += t.stream.msgs;
    total.stream.bytes += t.stream.bytes;
    total.stream.frames_bad += t.stream.frames_bad;
    total.stream.latency.merge(t.stream.latency);
    total.closed_early += t.closed_early;
    total.tls_failures += t.tls_failures;
    if (total.first_error.empty()) {
      total.first_error = t.first_error;
    }
  }
  return total;
}

}  // namespace

int main(int argc, char** argv) {
  std::string host = "127.0.0.1";
  unsigned port = 0;
  unsigned conns = 16;
  unsigned threads = 1;
  double warmup = 1.0;
  double duration = 5.0;
  bool tls = false;
  std::string tls_ca;
  bool json_only = false;
  ArgParser args(
      "stream_client",
      "Reads and validates stream_server frames on several connections; prints one JSON line.");
  args.add("host", &host, "server IPv4 address");
  args.add("port", &port, "server port");
  args.add("conns", &conns, "connections");
  args.add("threads", &threads, "client threads (connections split between them)");
  args.add("warmup", &warmup, "seconds read but not counted (TLS handshakes happen in it)");
  args.add("duration", &duration, "seconds measured after the warm-up");
  args.add("tls", &tls, "connect with TLS (non-blocking handshakes in the reader threads)");
  args.add("tls-ca", &tls_ca,
           "CA file to verify the server's certificate chain (default: no verification)");
  args.add("json", &json_only, "print only the JSON line (no summary on stderr)");
  args.parse(argc, argv);
  if (port == 0 || port > 65535 || conns == 0 || threads == 0 || duration <= 0 ||
      (!tls_ca.empty() && !tls)) {
    std::fprintf(
        stderr,
        "stream_client: need --port, conns, threads > 0, duration > 0; --tls-ca needs --tls\n");
    return 2;
  }
  threads = std::min(threads, conns);

  std::vector<std::unique_ptr<ClientConn>> all;
  try {
    const TlsClient tls_client = tls ? TlsClient::create(tls_ca, /*read_ahead=*/true) : TlsClient{};
    for (unsigned i = 0; i < conns; ++i) {
      auto c = std::make_unique<ClientConn>();
      c->channel =
          makeClientChannel(connectTcp(host, port), tls_client);  // the SSL keeps its ctx alive
      all.push_back(std::move(c));
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "stream_client: %s\n", e.what());
    return 1;
  }
  const std::uint64_t start = nowNs();
  const std::uint64_t measure_from = start + static_cast<std::uint64_t>(warmup * 1e9);
  const std::uint64_t end = measure_from + static_cast<std::uint64_t>(duration * 1e9);
  std::vector<ReaderTally> tallies(threads);
  std::vector<std::vector<ClientConn*>> shares(threads);
  for (unsigned i = 0; i < conns; ++i) {
    shares[i % threads].push_back(all[i].get());
  }
  std::vector<std::thread> workers;
  for (unsigned t = 0; t < threads; ++t) {
    workers.emplace_back(readStreams, std::cref(shares[t]),
                         tls ? kTlsReadsPerWake : kPlainReadsPerWake, measure_from, end,
                         std::ref(tallies[t]));
  }
  for (auto& w : workers) {
    w.join();
  }
  all.clear();  // closes the sockets

  const ReaderTally total = sum(tallies);
  const StreamTally& s = total.stream;
  const double us = 1e-3;
  JsonObject o;
  o.add("msgs_per_s", static_cast<double>(s.msgs) / duration)
      .add("mb_per_s", static_cast<double>(s.bytes) / duration / 1e6)
      .add("p50_us", static_cast<double>(s.latency.quantile(0.5)) * us)
      .add("p99_us", static_cast<double>(s.latency.quantile(0.99)) * us)
      .add("p999_us", static_cast<double>(s.latency.quantile(0.999)) * us)
      .add("max_us", static_cast<double>(s.latency.max()) * us)
      .add("frames_bad", s.frames_bad)
      .add("msgs", s.msgs)
      .add("conns", conns)
      .add("tls", tls)
      .add("tls_failures", total.tls_failures)
      .add("closed_early", total.closed_early);
  std::printf("%s\n", o.str().c_str());
  if (!total.first_error.empty()) {
    std::fprintf(stderr, "stream_client: %s\n", total.first_error.c_str());
  }
  if (!json_only) {
    std::fprintf(
        stderr,
        "stream_client: %u conns%s, %.2f s: %.0f msgs/s, %.1f MB/s, p50 %.0f us, p99 %.0f us, "
        "p99.9 %.0f us, max %.0f us, %llu bad frames\n",
        conns, tls ? " (TLS)" : "", duration, static_cast<double>(s.msgs) / duration,
        static_cast<double>(s.bytes) / duration / 1e6,
        static_cast<double>(s.latency.quantile(0.5)) * us,
        static_cast<double>(s.latency.quantile(0.99)) * us,
        static_cast<double>(s.latency.quantile(0.999)) * us,
        static_cast<double>(s.latency.max()) * us, static_cast<unsigned long long>(s.frames_bad));
  }
  return s.frames_bad == 0 && s.msgs > 0 && total.tls_failures == 0 ? 0 : 1;
}
