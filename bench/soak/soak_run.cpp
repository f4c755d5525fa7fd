#include "soak_run.h"

#include <unistd.h>

#include <functional>
#include <memory>
#include <random>
#include <thread>

#include "server_probe.h"
#include "server_process.h"
#include "soak_client.h"
#include "usage.h"

namespace spool::bench {
namespace {

constexpr std::uint64_t kSecond = 1'000'000'000;
constexpr std::uint64_t kStartTimeout = 30 * kSecond;  // ASan start-up on a loaded machine
constexpr std::uint64_t kSettleTimeout = 15 * kSecond;
constexpr std::uint64_t kStopTimeout = 30 * kSecond;  // includes LeakSanitizer's exit scan
constexpr int kStartAttempts = 5;

// Client threads per kind. Their steady connections (4 verified, 2 killers,
// up to 8 half-open, 1 garbage, 2 slow readers, 1 metadump: ~18) stay well
// under -c; only the churn bursts cross it.
constexpr unsigned kVerifiedClients = 4;  // two text, two meta
constexpr unsigned kKillers = 2;
constexpr unsigned kSlowReaders = 2;

// Why RSS may end up to --rss-slack-mib (64 MiB) above the idle baseline:
// the soak's own data stays in the store (verified clients: 4 x 256 keys of
// ~4.5 KiB on average, ~5 MiB; killers: at most 2 x 4096 x 4 values of <= 512
// bytes plus item headers, ~10 MiB; slow readers: 2 x 8 x <= 384 KiB, 6 MiB),
// about 20 MiB in all and never more than -m. Connection buffers (up to
// 256 KiB of queued input and a 1 MiB send budget for each of the ~20 busy
// connections) are freed when they close, but glibc keeps freed memory in
// its arenas (spoold sets M_TRIM_THRESHOLD to 16 MiB). A leak of 1 KiB per
// connection exceeds the bound in a 60 s run (about 100,000 connections in
// the plain configurations).
// Under AddressSanitizer freed memory waits in ASan's quarantine (256 MiB by
// default) and every allocation carries redzones, so the bound grows by the
// quarantine plus kAsanOverheadMiB; there LeakSanitizer, at spoold's exit,
// is the sharper leak check. A full quarantine costs more than its nominal
// size: its chunks keep their size-class rounding and redzones, and their
// shadow (an eighth) is resident too, hence 5/4 of it; and live memory,
// redzones and shadow included, costs about half again, hence the slack
// once more by half. A server fast enough to fill the quarantine within the
// run reaches that (measured: 366 MiB after 30 s of the inline
// configuration, where quarantine_size_mb=0 gives 67 MiB, as much as the
// slower build that never filled it; 418 MiB in the TLS configurations).
constexpr std::uint64_t kAsanOverheadMiB = 64;

std::uint64_t rssBoundKiB(const SoakOptions& o, const ConfigResult& r) {
  const std::uint64_t asan_mib =
      r.asan ? asanQuarantineMiB() * 5 / 4 + o.rss_slack_mib / 2 + kAsanOverheadMiB : 0;
  return r.rss_before_kib + (o.rss_slack_mib + asan_mib) * 1024;
}

std::vector<std::string> serverArgs(const SoakOptions& o, const ServerConfig& c, unsigned port,
                                    const CertFiles* cert) {
  std::vector<std::string> args = {"-l", "127.0.0.1"};
  if (::geteuid() == 0) {
    // spoold, like memcached, refuses root without a user to become.
    args.insert(args.end(), {"-u", "nobody"});
  }
  const auto flag = [&](const char* name, unsigned value) {
    args.push_back(name);
    args.push_back(std::to_string(value));
  };
  flag("-p", port);
  flag("-t", o.loop_threads);
  flag("-c", o.max_connections);
  flag("-m", o.memory_mb);
  args.push_back(c.workers ? "--exec=workers" : "--exec=inline");
  if (c.workers) {
    args.push_back("--workers=" + std::to_string(o.workers));
  }
  if (c.tls) {
    args.insert(args.end(), {"-Z", "-o", "ssl_chain_cert=" + cert->cert + ",ssl_key=" + cert->key});
  }
  return args;
}

/// Waits until the server answers VERSION; false if it exited first.
bool waitReady(ServerProcess& server, const SoakTarget& target, std::string& why) {
  const std::uint64_t deadline = nowNs() + kStartTimeout;
  while (server.alive() && nowNs() < deadline) {
    std::unique_ptr<SoakConn> conn;
    if (SoakConn::open(target, nowNs() + kSecond, conn, why) == Opened::kOk) {
      return true;
    }
    // Nothing to wait on before the port is open: poll.
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  why = server.alive()
            ? "not answering after " + std::to_string(kStartTimeout / kSecond) + " s: " + why
            : "exited at start (" + server.exitDescription() + ")";
  return false;
}

/// Starts spoold on a free port (another one if it lost the port to a race).
std::unique_ptr<ServerProcess> startServer(const SoakOptions& o, const ServerConfig& c,
                                           const CertFiles* cert, SoakTarget& target,
                                           ConfigResult& result) {
  for (int attempt = 0; attempt < kStartAttempts; ++attempt) {
    target.port = freePort();
    auto server = std::make_unique<ServerProcess>(o.spoold, serverArgs(o, c, target.port, cert),
                                                  result.stderr_path);
    if (waitReady(*server, target, result.setup_error)) {
      result.setup_error.clear();
      result.port = target.port;
      return server;
    }
  }
  return nullptr;
}

/// Polls the fd count (there is no event for it) every 10 ms until it is at
/// most `limit`, within the settle timeout. Returns the last count. The
/// timeout is above spool's 10 s TLS handshake timeout: today that timeout
/// is what closes a TLS connection reset before its ClientHello.
std::uint64_t settleFds(const ServerProcess& server, std::uint64_t limit, double& seconds) {
  const std::uint64_t start = nowNs();
  std::uint64_t count = server.fdCount().value_or(UINT64_MAX);
  while (count > limit && nowNs() - start < kSettleTimeout) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    count = server.fdCount().value_or(UINT64_MAX);
  }
  seconds = static_cast<double>(nowNs() - start) / kSecond;
  return count;
}

/// The idle server: fds once our probe connection is gone, and RSS.
bool measureBaseline(ServerProcess& server, const SoakTarget& target, ConfigResult& result) {
  std::string why;
  const StatsMap stats = fetchStats(target, why);
  if (statNumber(stats, "pid") != static_cast<std::uint64_t>(server.pid())) {
    result.setup_error = stats.empty() ? "stats: " + why : "another process answers on the port";
    return false;
  }
  std::unique_ptr<SoakConn> conn;
  if (SoakConn::open(target, nowNs() + kStallNs, conn, why) != Opened::kOk) {
    result.setup_error = "baseline connection: " + why;
    return false;
  }
  const std::uint64_t with_one = server.fdCount().value_or(0);  // VERSION answered: its fd exists
  conn.reset();
  double unused = 0;
  result.fds_before = settleFds(server, with_one - 1, unused);
  result.rss_before_kib = server.rssKiB().value_or(0);
  return true;
}

void runClients(const ClientContext& ctx) {
  std::vector<std::thread> threads;
  const auto spawn = [&](const char* name, std::function<void()> body) {
    threads.emplace_back([&ctx, name, body = std::move(body)] {
      try {
        body();
      } catch (const std::exception& e) {
        ctx.tally->failure(name, std::string("client threw: ") + e.what());
      }
    });
  };
  for (unsigned i = 0; i < kVerifiedClients; ++i) {
    spawn("verified",
          [&ctx, i] { runVerifiedClient(ctx, i, i % 2 == 0 ? Dialect::kText : Dialect::kMeta); });
  }
  for (unsigned i = 0; i < kKillers; ++i) {
    spawn("killer", [&ctx, i] { runKillerClient(ctx, i); });
  }
  for (unsigned i = 0; i < kSlowReaders; ++i) {
    spawn("slow-reader", [&ctx, i] { runSlowReader(ctx, i); });
  }
  spawn("half-open", [&ctx] { runHalfOpenClient(ctx, 0); });
  spawn("garbage", [&ctx] { runGarbageClient(ctx, 0); });
  spawn("churn", [&ctx] { runChurnClient(ctx, 0); });
  spawn("metadump", [&ctx] { runMetadumpClient(ctx, 0); });
  spawn("never-reading-pipeliner", [&ctx] { runNeverReadingPipeliner(ctx, 0); });
  spawn("deep-pipeliner", [&ctx] { runDeepPipeliner(ctx, 0); });
  for (std::thread& t : threads) {
    t.join();
  }
}

/// After the load: alive, a verified set/get, the stats, then fds and RSS.
void checkAfterLoad(const SoakOptions& o, ServerProcess& server, const SoakTarget& target,
                    ConfigResult& result) {
  result.alive_after_load = server.alive();
  if (!result.alive_after_load) {
    return;
  }
  std::mt19937_64 rng(o.seed);
  result.final_check = verifiedSetGet(target, rng, "soak:final");
  std::string why;
  const StatsMap stats = fetchStats(target, why);
  if (stats.empty() && result.final_check.empty()) {
    result.final_check = "stats: " + why;
  }
  result.evictions = statNumber(stats, "evictions");
  result.server_total_connections = statNumber(stats, "total_connections");
  result.server_rejected_connections = statNumber(stats, "rejected_connections");
  // Settled means back to the baseline; the slack only judges a count
  // that never gets there.
  result.fds_after = settleFds(server, result.fds_before, result.fd_settle_seconds);
  result.rss_after_kib = server.rssKiB().value_or(0);
  result.rss_peak_kib = server.peakRssKiB().value_or(0);
}

}  // namespace

ConfigResult runConfiguration(const SoakOptions& options, const ServerConfig& config,
                              const std::string& work_dir, const CertFiles* cert,
                              const TlsClient* tls) {
  ConfigResult result;
  result.config = config;
  result.stderr_path = work_dir + "/spoold-" + config.name + ".stderr";
  SoakTally tally;
  // Each configuration draws its own random choices from the one seed.
  ClientContext ctx{SoakTarget{"127.0.0.1", 0, config.tls ? tls : nullptr}, &tally, 0,
                    options.max_connections, options.seed ^ std::hash<std::string>{}(config.name)};
  std::unique_ptr<ServerProcess> server = startServer(options, config, cert, ctx.target, result);
  if (server && measureBaseline(*server, ctx.target, result)) {
    result.asan = server->hasAddressSanitizer();
    result.rss_bound_kib = rssBoundKiB(options, result);
    const std::uint64_t start = nowNs();
    ctx.deadline_ns = start + static_cast<std::uint64_t>(options.seconds * kSecond);
    runClients(ctx);
    result.load_seconds = static_cast<double>(nowNs() - start) / kSecond;
    result.tally = tally.snapshot();
    checkAfterLoad(options, *server, ctx.target, result);
  }
  if (server) {
    result.exit_ok = server->stop(kStopTimeout);
    result.exit = server->exitDescription();
  }
  result.sanitizer_reports = sanitizerReports(result.stderr_path);
  if (!result.failedChecks(options).empty()) {
    result.stderr_tail = fileTail(result.stderr_path, 20);
  }
  return result;
}

std::vector<std::string> ConfigResult::failedChecks(const SoakOptions& o) const {
  std::vector<std::string> failed;
  const auto check = [&](bool ok, const std::string& what) {
    if (!ok) {
      failed.push_back(what);
    }
  };
  check(setup_error.empty(), "setup: " + setup_error);
  if (!setup_error.empty()) {
    return failed;
  }
  check(alive_after_load, "spoold died during the load (" + exit + ")");
  check(!alive_after_load || final_check.empty(), "final verified set/get: " + final_check);
  check(tally.mismatches == 0, std::to_string(tally.mismatches) + " wrong replies");
  check(tally.failures == 0,
        std::to_string(tally.failures) + " client failures (stalls, drops, limit)");
  check(tally.verified > 0, "no reply was verified");
  // Every refusal a client saw must be one spoold counted: a handshake or
  // probe that failed for any other reason would pass for a refusal.
  const std::uint64_t refusals = tally.refused + tally.fault(Fault::kChurnRejected);
  check(!alive_after_load || refusals <= server_rejected_connections,
        "clients saw " + std::to_string(refusals) + " refusals, spoold rejected only " +
            std::to_string(server_rejected_connections) + " connections");
  check(evictions == 0,
        std::to_string(evictions) + " evictions: the model assumes none (raise -m)");
  check(!alive_after_load || fds_after <= fds_before + o.fd_slack,
        "fds " + std::to_string(fds_after) + " > baseline " + std::to_string(fds_before) + " + " +
            std::to_string(o.fd_slack));
  check(!alive_after_load || rss_after_kib <= rss_bound_kib,
        "RSS " + std::to_string(rss_after_kib) + " KiB > bound " + std::to_string(rss_bound_kib) +
            " KiB");
  check(exit_ok, "spoold did not exit cleanly on SIGTERM (" + exit + ")");
  check(sanitizer_reports.empty(),
        std::to_string(sanitizer_reports.size()) + " sanitizer report lines");
  return failed;
}

}  // namespace spool::bench
