#include "load_run.h"

#include <sys/epoll.h>
#include <unistd.h>

#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <latch>
#include <optional>
#include <random>
#include <thread>
#include <vector>

#include "idle_conns.h"
#include "json.h"
#include "load_conn.h"
#include "table.h"
#include "usage.h"

namespace spool::bench {
namespace {


// Bounds on the work that is not timed by --duration.
constexpr std::chrono::seconds kPrefillLimit{120};
// How long an idle client thread sleeps in epoll before it checks the clock.
constexpr std::uint64_t kIdleWaitNs = 10'000'000;
// Bound on opening the idle connections.
constexpr double kIdleOpenLimitS = 120;

std::unique_ptr<LoadConn> openConn(const LoadConfig& config, const TlsClient& tls, const KeySpace& keys,
                                   unsigned depth, OpSource source) {
  return std::make_unique<LoadConn>(connectChannel(config.host, config.port, tls),
                                    makeMcProtocol(config.protocol), keys, depth, std::move(source));
}

/// Drives `conns` until `until_ns` (or, with stop_when_idle, until they all
/// went idle). Counts into `tally` between measure_from and end.
void drive(std::vector<std::unique_ptr<LoadConn>>& conns, std::uint64_t measure_from, std::uint64_t until_ns,
           bool stop_when_idle, LoadTally& tally) {
  const int ep = epoll_create1(EPOLL_CLOEXEC);
  std::vector<bool> alive(conns.size(), true);
  std::vector<bool> want_out(conns.size(), false);
  const auto arm = [&](std::size_t i) {
    epoll_event ev{};
    ev.events = EPOLLIN | (conns[i]->wantsWrite() ? std::uint32_t{EPOLLOUT} : 0u);
    ev.data.u64 = i;
    epoll_ctl(ep, EPOLL_CTL_MOD, conns[i]->fd(), &ev);
    want_out[i] = conns[i]->wantsWrite();
  };
  for (std::size_t i = 0; i < conns.size(); ++i) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = i;
    epoll_ctl(ep, EPOLL_CTL_ADD, conns[i]->fd(), &ev);
  }
  const auto step = [&](std::size_t i, std::uint64_t now) {
    if (!alive[i]) {
      return;
    }
    const bool measuring = now >= measure_from && now < until_ns;
    do {
      if (!conns[i]->pump(measuring, tally)) {
        alive[i] = false;
        epoll_ctl(ep, EPOLL_CTL_DEL, conns[i]->fd(), nullptr);
        return;
      }
    } while (conns[i]->hasBuffered());
    if (conns[i]->wantsWrite() != want_out[i]) {
      arm(i);
    }
  };
  // Open loop: sleep until the earliest paced request is due (connections
  // with `depth` outstanding wait for a response instead), then issue it.
  const auto wait_for = [&](std::uint64_t now) {
    std::uint64_t wait_ns = kIdleWaitNs;
    for (std::size_t i = 0; i < conns.size(); ++i) {
      const std::uint64_t due = conns[i]->nextDue();
      if (alive[i] && due != 0 && !conns[i]->full()) {
        wait_ns = std::min(wait_ns, due > now ? due - now : 0);
      }
    }
    return timespec{static_cast<time_t>(wait_ns / 1'000'000'000), static_cast<long>(wait_ns % 1'000'000'000)};
  };
  const auto issue_due = [&](std::uint64_t now) {
    for (std::size_t i = 0; i < conns.size(); ++i) {
      const std::uint64_t due = conns[i]->nextDue();
      if (!alive[i] || due == 0 || due > now || conns[i]->full()) {
        continue;
      }
      if (!conns[i]->issueDue(now)) {
        alive[i] = false;
        epoll_ctl(ep, EPOLL_CTL_DEL, conns[i]->fd(), nullptr);
      } else if (conns[i]->wantsWrite() != want_out[i]) {
        arm(i);
      }
    }
  };
  for (std::size_t i = 0; i < conns.size(); ++i) {
    step(i, nowNs());
  }
  epoll_event events[64];
  for (std::uint64_t now = nowNs(); now < until_ns; now = nowNs()) {
    const timespec timeout = wait_for(now);
    const int n = epoll_pwait2(ep, events, 64, &timeout, nullptr);
    now = nowNs();
    for (int k = 0; k < n; ++k) {
      step(events[k].data.u64, now);
    }
    issue_due(now);
    if (stop_when_idle) {
      bool idle = true;
      for (std::size_t i = 0; i < conns.size(); ++i) {
        idle = idle && (!alive[i] || conns[i]->idle());
      }
      if (idle) {
        break;
      }
    }
  }
  ::close(ep);
}

}  // namespace

bool prefill(const LoadConfig& config, const TlsClient& tls, const KeySpace& keys) {
  std::uint64_t next = 0;
  std::uint32_t opaque = 0;
  std::vector<std::unique_ptr<LoadConn>> conns;
  conns.push_back(openConn(config, tls, keys, 64, [&](McOp& op) {
    if (next >= keys.count()) {
      return false;
    }
    op = McOp{OpKind::kSet, next++, opaque++, 0};
    return true;
  }));
  LoadTally tally;
  const auto limit = std::chrono::duration_cast<std::chrono::nanoseconds>(kPrefillLimit).count();
  drive(conns, 0, nowNs() + static_cast<std::uint64_t>(limit), true, tally);
  if (tally.errors != 0 || next < keys.count()) {
    std::fprintf(stderr, "mcload: prefill failed: %s\n",
                 tally.first_error.empty() ? "timed out" : tally.first_error.c_str());
    return false;
  }
  return true;
}


namespace {

/// Open loop: thread `t`'s connections (global numbers t, t + threads, ...)
/// each get every conns-th slot of one schedule at `config.rate` from `start`.
void paceOpenLoop(const LoadConfig& config, unsigned t, std::uint64_t start,
                  std::vector<std::unique_ptr<LoadConn>>& conns) {
  const double interval = 1e9 * config.conns / config.rate;
  for (std::size_t j = 0; j < conns.size(); ++j) {
    const std::uint64_t c = t + j * config.threads;
    conns[j]->pace(start + static_cast<std::uint64_t>(interval * static_cast<double>(c) / config.conns),
                   std::max<std::uint64_t>(1, static_cast<std::uint64_t>(interval)));
  }
}

/// A client thread's connections and what they counted.
struct ClientThread {
  std::vector<std::unique_ptr<LoadConn>> conns;
  LoadTally tally;
  std::string error;  // setup failure
};

void addIdleJson(JsonObject& o, const IdleConns& idle) {
  o.add("idle_conns", static_cast<std::uint64_t>(idle.fds.size())).add("idle_open_s", idle.open_s);
  if (idle.server_rss_before_kb && idle.server_rss_after_kb && !idle.fds.empty()) {
    o.add("server_rss_before_kb", static_cast<std::int64_t>(*idle.server_rss_before_kb))
        .add("server_rss_after_idle_kb", static_cast<std::int64_t>(*idle.server_rss_after_kb))
        .add("server_rss_per_idle_conn_bytes",
             static_cast<double>(*idle.server_rss_after_kb - *idle.server_rss_before_kb) * 1024.0 /
                 static_cast<double>(idle.fds.size()));
  }
}

std::string reportJson(const LoadConfig& config, const LoadTally& t, double ops_per_s,
                       std::optional<double> server_cpu, const IdleConns& idle) {
  JsonObject o;
  o.add("benchmark", "mcload")
      .add("protocol", config.protocol)
      .add("tls", config.tls)
      .add("conns", config.conns)
      .add("threads", config.threads)
      .add("depth", config.depth)
      .add("set_ratio", config.set_ratio)
      .add("keys", config.key_count)
      .add("key_size", config.key_size)
      .add("value_size", config.value_size)
      .add("duration_s", config.duration)
      .add("offered_rate", config.rate)
      .add("ops", t.gets + t.sets)
      .add("ops_per_s", ops_per_s)
      .add("gets", t.gets)
      .add("sets", t.sets)
      .add("hits", t.hits)
      .add("misses", t.misses)
      .add("errors", t.errors)
      .add("p50_us", static_cast<double>(t.latency.quantile(0.5)) * 1e-3)
      .add("p99_us", static_cast<double>(t.latency.quantile(0.99)) * 1e-3)
      .add("p999_us", static_cast<double>(t.latency.quantile(0.999)) * 1e-3)
      .add("max_us", static_cast<double>(t.latency.max()) * 1e-3);
  if (server_cpu) {
    o.add("server_cpu_s", *server_cpu)
        .add("ops_per_server_cpu_s", *server_cpu > 0 ? static_cast<double>(t.gets + t.sets) / *server_cpu : 0.0);
  }
  if (config.idle_conns > 0) {
    addIdleJson(o, idle);
  }
  if (!t.first_error.empty()) {
    o.add("first_error", t.first_error);
  }
  return o.str();
}

}  // namespace

int runLoad(const LoadConfig& config, const TlsClient& tls, const KeySpace& keys, bool json) {
  IdleConns idle;
  if (config.idle_conns > 0) {
    openIdleConns(config.host, config.port, *makeMcProtocol(config.protocol), keys, config.idle_conns,
                  config.server_pid, kIdleOpenLimitS, idle);
    if (!idle.error.empty()) {
      std::fprintf(stderr, "mcload: %s\n", idle.error.c_str());
      return 1;
    }
  }
  std::vector<ClientThread> clients(config.threads);
  std::latch connected(config.threads + 1);
  std::atomic<std::uint64_t> measure_from{0};
  std::atomic<std::uint64_t> end{0};
  std::atomic<std::uint64_t> start_ns{0};
  std::latch go(1);
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < config.threads; ++t) {
    threads.emplace_back([&, t] {
      ClientThread& me = clients[t];
      std::uint32_t opaque = 0;
      try {
        for (unsigned c = t; c < config.conns; c += config.threads) {
          std::mt19937_64 rng(0x9e3779b97f4a7c15ull * (c + 1));
          me.conns.push_back(openConn(config, tls, keys, config.depth, [&, rng](McOp& op) mutable {
            if (nowNs() >= end.load(std::memory_order_relaxed)) {
              return false;
            }
            const std::uint64_t r = rng();
            const bool set = static_cast<double>(r >> 11) * 0x1.0p-53 < config.set_ratio;
            op = McOp{set ? OpKind::kSet : OpKind::kGet, rng() % keys.count(), opaque++, 0};
            return true;
          }));
        }
      } catch (const std::exception& e) {
        me.error = e.what();
      }
      connected.arrive_and_wait();
      go.wait();
      if (config.rate > 0) {
        paceOpenLoop(config, t, start_ns.load(), me.conns);
      }
      if (me.error.empty()) {
        drive(me.conns, measure_from.load(), end.load(), false, me.tally);
      }
    });
  }
  connected.arrive_and_wait();
  const std::uint64_t start = nowNs();
  start_ns.store(start);
  measure_from.store(start + static_cast<std::uint64_t>(config.warmup * 1e9));
  end.store(measure_from.load() + static_cast<std::uint64_t>(config.duration * 1e9));
  go.count_down();

  std::optional<double> cpu_before;
  std::optional<double> server_cpu;
  const auto sleepUntil = [](std::uint64_t ns) {
    const std::uint64_t now = nowNs();
    if (ns > now) {
      std::this_thread::sleep_for(std::chrono::nanoseconds(ns - now));
    }
  };
  sleepUntil(measure_from.load());
  if (config.server_pid > 0) {
    cpu_before = processCpuSeconds(config.server_pid);
  }
  sleepUntil(end.load());
  if (cpu_before) {
    if (const auto after = processCpuSeconds(config.server_pid)) {
      server_cpu = *after - *cpu_before;
    }
  }
  for (auto& t : threads) {
    t.join();
  }

  LoadTally total;
  for (auto& c : clients) {
    if (!c.error.empty()) {
      ++total.errors;
      total.first_error = c.error;
    }
    total.merge(c.tally);
  }
  const double ops_per_s = static_cast<double>(total.gets + total.sets) / config.duration;
  if (json) {
    std::printf("%s\n", reportJson(config, total, ops_per_s, server_cpu, idle).c_str());
  } else {
    TextTable table({"protocol", "conns", "depth", "ops/s", "hits", "misses", "p50", "p99", "p99.9", "max",
                     "server CPU s", "ops/CPU-s", "errors"});
    table.addRow({config.protocol + (config.tls ? "+tls" : ""), std::to_string(config.conns),
                  std::to_string(config.depth), siNumber(ops_per_s), std::to_string(total.hits),
                  std::to_string(total.misses), duration(total.latency.quantile(0.5)),
                  duration(total.latency.quantile(0.99)), duration(total.latency.quantile(0.999)),
                  duration(total.latency.max()), server_cpu ? fmt::format("{:.3f}", *server_cpu) : "-",
                  server_cpu && *server_cpu > 0
                      ? siNumber(static_cast<double>(total.gets + total.sets) / *server_cpu) : "-",
                  std::to_string(total.errors)});
    table.print();
  }
  if (total.errors != 0) {
    std::fprintf(stderr, "mcload: %llu error(s); first: %s\n", static_cast<unsigned long long>(total.errors),
                 total.first_error.c_str());
    return 1;
  }
  return total.gets + total.sets > 0 ? 0 : 1;
}
}  // namespace spool::bench
