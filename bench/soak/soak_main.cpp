// spoold_soak: runs spoold under every fault the soak knows at once, in
// each configuration (inline and workers, plain and TLS), and checks that
// it stayed up, answered every completed request correctly, and gave back
// its descriptors and memory. Exit status 1 on any failed check.
#include <signal.h>
#include <stdlib.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <optional>

#include "cli.h"
#include "soak_report.h"
#include "soak_run.h"

using namespace spool::bench;

namespace {

const std::vector<ServerConfig> kConfigs = {{"inline", false, false},
                                            {"workers", true, false},
                                            {"inline-tls", false, true},
                                            {"workers-tls", true, true}};

std::vector<ServerConfig> chooseConfigs(const std::string& names) {
  std::vector<ServerConfig> chosen;
  for (const std::string& name : splitList(names)) {
    const auto it = std::find_if(kConfigs.begin(), kConfigs.end(),
                                 [&](const auto& c) { return c.name == name; });
    if (it == kConfigs.end()) {
      std::fprintf(
          stderr,
          "spoold_soak: unknown configuration '%s' (inline, workers, inline-tls, workers-tls)\n",
          name.c_str());
      std::exit(2);
    }
    chosen.push_back(*it);
  }
  return chosen;
}

std::string makeWorkDir() {
  char pattern[] = "/tmp/spoold-soak-XXXXXX";
  if (::mkdtemp(pattern) == nullptr) {
    throw std::runtime_error("cannot create a temporary folder");
  }
  return pattern;
}

struct MainOptions {
  SoakOptions soak;
  std::string configs = "inline,workers,inline-tls,workers-tls";
  bool json = false;
  bool keep = false;
};

MainOptions parseOptions(int argc, char** argv) {
  MainOptions m;
  SoakOptions& o = m.soak;
  ArgParser args(
      "spoold_soak",
      "Soak spoold: verified pipelined load plus killed clients, half-open sockets, garbage,\n"
      "slow readers, churn past -c and metadumps, all at once; checks replies, fds, RSS, exit.");
  args.add("spoold", &o.spoold, "path of the spoold binary (required)");
  args.add("seconds", &o.seconds, "seconds of load per configuration");
  args.add("configs", &m.configs, "comma-separated: inline, workers, inline-tls, workers-tls");
  args.add("max-conns", &o.max_connections, "spoold -c (churn bursts open 16 more)");
  args.add("threads", &o.loop_threads, "spoold -t");
  args.add("workers", &o.workers, "spoold --workers in workers mode");
  args.add("memory-mb", &o.memory_mb, "spoold -m");
  args.add("fd-slack", &o.fd_slack, "fds allowed above the idle baseline after the load");
  args.add("rss-slack-mib", &o.rss_slack_mib, "RSS allowed above the idle baseline after the load");
  args.add("seed", &o.seed, "random seed of the clients");
  args.add("json", &m.json, "print one JSON object instead of text");
  args.add("keep", &m.keep,
           "keep the temporary folder (certificate, spoold's stderr) on success too");
  args.parse(argc, argv);
  if (o.spoold.empty() || o.seconds <= 0 || o.max_connections == 0) {
    std::fprintf(stderr,
                 "spoold_soak: --spoold is required; --seconds and --max-conns must be positive\n");
    std::exit(2);
  }
  return m;
}

/// Runs the chosen configurations one after the other; the exit status.
int runAll(const MainOptions& m) {
  const std::vector<ServerConfig> chosen = chooseConfigs(m.configs);
  const std::string work_dir = makeWorkDir();
  const CertFiles cert = writeSelfSignedCert(work_dir);
  const TlsClient tls = TlsClient::create(cert.cert);  // verify the server against it
  std::vector<ConfigResult> results;
  bool passed = true;
  for (const ServerConfig& config : chosen) {
    results.push_back(runConfiguration(m.soak, config, work_dir, &cert, &tls));
    passed = passed && results.back().failedChecks(m.soak).empty();
    if (!m.json) {
      std::fputs(reportText(m.soak, results.back()).c_str(), stdout);
      std::fflush(stdout);
    }
  }
  if (m.json) {
    std::puts(reportJson(m.soak, results, passed).c_str());
  } else {
    std::printf("spoold_soak: %s\n", passed ? "PASS" : "FAIL");
  }
  if (passed && !m.keep) {
    std::filesystem::remove_all(work_dir);
  } else {
    std::fprintf(stderr, "spoold_soak: certificate and spoold's stderr kept in %s\n",
                 work_dir.c_str());
  }
  return passed ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const MainOptions options = parseOptions(argc, argv);
  // TLS writes go through write(2) on the socket: a reset peer must not kill the soak.
  ::signal(SIGPIPE, SIG_IGN);
  try {
    return runAll(options);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "spoold_soak: %s\n", e.what());
    return 1;
  }
}
