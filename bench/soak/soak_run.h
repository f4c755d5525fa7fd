// One soak configuration: start spoold, measure it idle, run every client
// kind at once for the set time, check it, stop it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "client_channel.h"
#include "self_signed_cert.h"
#include "soak_tally.h"

namespace spool::bench {

struct SoakOptions {
  std::string spoold;                ///< the server binary
  double seconds = 60;               ///< load per configuration
  unsigned max_connections = 64;     ///< spoold -c: low, so that churn crosses it
  unsigned loop_threads = 2;         ///< spoold -t
  unsigned workers = 2;              ///< spoold --workers (workers mode)
  unsigned memory_mb = 64;           ///< spoold -m
  std::uint64_t fd_slack = 2;        ///< fds allowed above the baseline after the load
  std::uint64_t rss_slack_mib = 64;  ///< RSS allowed above the baseline (see soak_run.cpp)
  std::uint64_t seed = 1;
};

struct ServerConfig {
  std::string name;  ///< e.g. "workers-tls"
  bool workers = false;
  bool tls = false;
};

struct ConfigResult {
  ServerConfig config;
  unsigned port = 0;
  double load_seconds = 0;
  TallySnapshot tally;
  std::uint64_t fds_before = 0;
  std::uint64_t fds_after = 0;
  double fd_settle_seconds = 0;  ///< from the last client gone to the count settled
  std::uint64_t rss_before_kib = 0;
  std::uint64_t rss_after_kib = 0;
  std::uint64_t rss_peak_kib = 0;
  std::uint64_t rss_bound_kib = 0;
  bool asan = false;  ///< spoold runs AddressSanitizer (the RSS bound widens)
  bool alive_after_load = false;
  std::string final_check;  ///< empty: the final verified set/get worked
  std::uint64_t evictions = 0;
  std::uint64_t server_total_connections = 0;
  std::uint64_t server_rejected_connections = 0;
  std::string exit;  ///< how spoold ended on SIGTERM
  bool exit_ok = false;
  std::vector<std::string> sanitizer_reports;
  std::string setup_error;  ///< spoold could not be started or measured
  std::string stderr_path;
  std::string stderr_tail;  ///< on failure

  /// What failed, one line each; empty when the configuration passed.
  [[nodiscard]] std::vector<std::string> failedChecks(const SoakOptions& options) const;
};

/// Main thread only. `tls` is the clients' context (null for plain
/// configurations); `cert` the server's files.
ConfigResult runConfiguration(const SoakOptions& options, const ServerConfig& config,
                              const std::string& work_dir, const CertFiles* cert,
                              const TlsClient* tls);

}  // namespace spool::bench
