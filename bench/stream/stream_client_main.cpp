// stream_client: connects to a stream_server (or anything speaking frame.h),
// validates every frame, and prints one JSON line: msgs_per_s, mb_per_s,
// p50_us, p99_us, p999_us, max_us, frames_bad. Exit status 1 when any frame
// was bad, a connection failed, or nothing arrived.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "cli.h"
#include "frame_checker.h"
#include "json.h"
#include "usage.h"

using namespace spool::bench;

namespace {

struct ClientConn {
  int fd = -1;
  bool open = true;
  FrameChecker checker;
};

int connectTo(const std::string& host, unsigned port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  if (inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) {
    return -1;
  }
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    if (fd >= 0) {
      ::close(fd);
    }
    return -1;
  }
  return fd;
}

/// One client thread: epoll over its connections until `end_ns`.
void readAll(std::vector<ClientConn*> conns, std::uint64_t measure_from, std::uint64_t end_ns,
             StreamTally& tally, std::uint64_t& closed_early) {
  const int ep = epoll_create1(EPOLL_CLOEXEC);
  for (std::size_t i = 0; i < conns.size(); ++i) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = i;
    epoll_ctl(ep, EPOLL_CTL_ADD, conns[i]->fd, &ev);
  }
  epoll_event events[64];
  for (std::uint64_t now = nowNs(); now < end_ns; now = nowNs()) {
    const int n = epoll_wait(ep, events, 64, 50);
    for (int i = 0; i < n; ++i) {
      ClientConn& c = *conns[events[i].data.u64];
      // A few reads per wake-up keep the connections fair to one another.
      for (int reads = 0; reads < 4 && c.open; ++reads) {
        const ssize_t r = ::recv(c.fd, c.checker.space(), c.checker.spaceLeft(), MSG_DONTWAIT);
        if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
          break;
        }
        if (r <= 0) {
          c.open = false;
          ++closed_early;
          epoll_ctl(ep, EPOLL_CTL_DEL, c.fd, nullptr);
          break;
        }
        const std::uint64_t at = nowNs();
        if (!c.checker.received(static_cast<std::size_t>(r), at, at >= measure_from, tally)) {
          c.open = false;  // corrupt: counted in frames_bad
          epoll_ctl(ep, EPOLL_CTL_DEL, c.fd, nullptr);
        }
      }
    }
  }
  ::close(ep);
}

}  // namespace

int main(int argc, char** argv) {
  std::string host = "127.0.0.1";
  unsigned port = 0;
  unsigned conns = 16;
  unsigned threads = 1;
  double warmup = 1.0;
  double duration = 5.0;
  bool json_only = false;
  ArgParser args("stream_client",
                 "Reads and validates stream_server frames on several connections; prints one JSON line.");
  args.add("host", &host, "server IPv4 address");
  args.add("port", &port, "server port");
  args.add("conns", &conns, "connections");
  args.add("threads", &threads, "client threads (connections split between them)");
  args.add("warmup", &warmup, "seconds read but not counted");
  args.add("duration", &duration, "seconds measured after the warm-up");
  args.add("json", &json_only, "print only the JSON line (no summary on stderr)");
  args.parse(argc, argv);
  if (port == 0 || port > 65535 || conns == 0 || threads == 0 || duration <= 0) {
    std::fprintf(stderr, "stream_client: need --port, conns, threads > 0, duration > 0\n");
    return 2;
  }
  threads = std::min(threads, conns);

  std::vector<std::unique_ptr<ClientConn>> all;
  for (unsigned i = 0; i < conns; ++i) {
    auto c = std::make_unique<ClientConn>();
    c->fd = connectTo(host, port);
    if (c->fd < 0) {
      std::fprintf(stderr, "stream_client: cannot connect to %s:%u: %s\n", host.c_str(), port, std::strerror(errno));
      return 1;
    }
    all.push_back(std::move(c));
  }
  const std::uint64_t start = nowNs();
  const std::uint64_t measure_from = start + static_cast<std::uint64_t>(warmup * 1e9);
  const std::uint64_t end = measure_from + static_cast<std::uint64_t>(duration * 1e9);
  std::vector<StreamTally> tallies(threads);
  std::vector<std::uint64_t> closed(threads, 0);
  std::vector<std::thread> workers;
  for (unsigned t = 0; t < threads; ++t) {
    std::vector<ClientConn*> mine;
    for (unsigned i = t; i < conns; i += threads) {
      mine.push_back(all[i].get());
    }
    workers.emplace_back(readAll, mine, measure_from, end, std::ref(tallies[t]), std::ref(closed[t]));
  }
  for (auto& w : workers) {
    w.join();
  }
  for (auto& c : all) {
    ::close(c->fd);
  }

  StreamTally sum;
  std::uint64_t closed_early = 0;
  for (unsigned t = 0; t < threads; ++t) {
    sum.msgs += tallies[t].msgs;
    sum.bytes += tallies[t].bytes;
    sum.frames_bad += tallies[t].frames_bad;
    sum.latency.merge(tallies[t].latency);
    closed_early += closed[t];
  }
  const double us = 1e-3;
  JsonObject o;
  o.add("msgs_per_s", static_cast<double>(sum.msgs) / duration)
      .add("mb_per_s", static_cast<double>(sum.bytes) / duration / 1e6)
      .add("p50_us", static_cast<double>(sum.latency.quantile(0.5)) * us)
      .add("p99_us", static_cast<double>(sum.latency.quantile(0.99)) * us)
      .add("p999_us", static_cast<double>(sum.latency.quantile(0.999)) * us)
      .add("max_us", static_cast<double>(sum.latency.max()) * us)
      .add("frames_bad", sum.frames_bad)
      .add("msgs", sum.msgs)
      .add("conns", conns)
      .add("closed_early", closed_early);
  std::printf("%s\n", o.str().c_str());
  if (!json_only) {
    std::fprintf(stderr, "stream_client: %u conns, %.2f s: %.0f msgs/s, %.1f MB/s, p50 %.0f us, p99 %.0f us, "
                 "p99.9 %.0f us, max %.0f us, %llu bad frames\n",
                 conns, duration, static_cast<double>(sum.msgs) / duration,
                 static_cast<double>(sum.bytes) / duration / 1e6, static_cast<double>(sum.latency.quantile(0.5)) * us,
                 static_cast<double>(sum.latency.quantile(0.99)) * us,
                 static_cast<double>(sum.latency.quantile(0.999)) * us, static_cast<double>(sum.latency.max()) * us,
                 static_cast<unsigned long long>(sum.frames_bad));
  }
  return sum.frames_bad == 0 && sum.msgs > 0 ? 0 : 1;
}
