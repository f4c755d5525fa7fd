#include "soak_report.h"

#include <fmt/format.h>

#include "json.h"

namespace spool::bench {
namespace {

double mib(std::uint64_t kib) {
  return static_cast<double>(kib) / 1024.0;
}

std::string faultList(const TallySnapshot& tally) {
  std::string out;
  for (std::size_t i = 0; i < tally.faults.size(); ++i) {
    out += fmt::format("{}{} {}", out.empty() ? "" : ", ", faultName(static_cast<Fault>(i)),
                       tally.faults[i]);
  }
  return out;
}

std::string faultJson(const TallySnapshot& tally) {
  JsonObject faults;
  for (std::size_t i = 0; i < tally.faults.size(); ++i) {
    faults.add(faultName(static_cast<Fault>(i)), tally.faults[i]);
  }
  return faults.str();
}

std::string stringArray(const std::vector<std::string>& items) {
  std::string out = "[";
  for (const std::string& item : items) {
    out += (out.size() > 1 ? ", " : "") + jsonQuote(item);
  }
  return out + "]";
}

std::string configJson(const SoakOptions& options, const ConfigResult& r) {
  const std::vector<std::string> failed = r.failedChecks(options);
  JsonObject o;
  o.add("name", r.config.name)
      .add("exec", r.config.workers ? "workers" : "inline")
      .add("tls", r.config.tls);
  o.add("passed", failed.empty()).add("port", r.port).add("load_seconds", r.load_seconds);
  o.add("requests", r.tally.requests).add("verified_replies", r.tally.verified);
  o.add("mismatches", r.tally.mismatches).add("failures", r.tally.failures);
  o.add("faults_total", r.tally.faultTotal()).raw("faults", faultJson(r.tally));
  o.add("refused_opens", r.tally.refused).add("metadump_busy", r.tally.metadump_busy);
  o.add("server_total_connections", r.server_total_connections);
  o.add("server_rejected_connections", r.server_rejected_connections);
  o.add("fds_before", r.fds_before).add("fds_after", r.fds_after).add("fd_slack", options.fd_slack);
  o.add("fd_settle_seconds", r.fd_settle_seconds);
  o.add("rss_before_kib", r.rss_before_kib).add("rss_after_kib", r.rss_after_kib);
  o.add("rss_peak_kib", r.rss_peak_kib).add("rss_bound_kib", r.rss_bound_kib);
  o.add("asan", r.asan);
  o.add("alive_after_load", r.alive_after_load)
      .add("final_set_get_ok", r.alive_after_load && r.final_check.empty());
  o.add("evictions", r.evictions).add("exit", r.exit).add("exit_ok", r.exit_ok);
  o.raw("sanitizer_reports", stringArray(r.sanitizer_reports));
  o.raw("problems", stringArray(r.tally.problems)).raw("failed_checks", stringArray(failed));
  o.add("stderr", r.stderr_path);
  return o.str();
}

std::string rssLine(const ConfigResult& r) {
  return fmt::format(
      "  RSS             before {:.1f} MiB, after {:.1f} MiB, peak {:.1f} MiB (allowed: before + "
      "{} MiB{})\n",
      mib(r.rss_before_kib), mib(r.rss_after_kib), mib(r.rss_peak_kib),
      (r.rss_bound_kib - r.rss_before_kib) / 1024,
      r.asan ? ", ASan build: quarantine included" : "");
}

/// What went wrong, if anything: the clients' first problems, sanitizer
/// lines, failed checks and the end of spoold's stderr.
std::string problemLines(const ConfigResult& r, const std::vector<std::string>& failed) {
  std::string out;
  for (const std::string& p : r.tally.problems) {
    out += "  problem: " + p + "\n";
  }
  for (const std::string& s : r.sanitizer_reports) {
    out += "  sanitizer: " + s + "\n";
  }
  for (const std::string& f : failed) {
    out += "  FAILED: " + f + "\n";
  }
  if (!failed.empty()) {
    out += "  spoold stderr (" + r.stderr_path + "), last lines:\n" + r.stderr_tail;
  }
  return out;
}

}  // namespace

std::string reportText(const SoakOptions& options, const ConfigResult& r) {
  const std::vector<std::string> failed = r.failedChecks(options);
  const TallySnapshot& t = r.tally;
  std::string out = fmt::format(
      "== {} (--exec={}, {}), {:.1f} s of load on 127.0.0.1:{}, -c {}: {}\n", r.config.name,
      r.config.workers ? "workers" : "inline", r.config.tls ? "TLS" : "plain", r.load_seconds,
      r.port, options.max_connections, failed.empty() ? "PASS" : "FAIL");
  out += fmt::format(
      "  requests        {} sent; {} replies verified byte for byte; {} mismatches; {} failures\n",
      t.requests, t.verified, t.mismatches, t.failures);
  out += fmt::format("  faults injected {} in all: {}\n", t.faultTotal(), faultList(t));
  out += fmt::format(
      "  connections     {} accepted by spoold, {} rejected at -c; {} client opens refused and "
      "retried\n",
      r.server_total_connections, r.server_rejected_connections, t.refused);
  if (!r.alive_after_load) {
    out += "  fds, RSS        not measured: spoold is gone\n";
  } else {
    out += fmt::format("  fds             before {}, after {} (allowed +{}; settled in {:.2f} s)\n",
                       r.fds_before, r.fds_after, options.fd_slack, r.fd_settle_seconds);
    out += rssLine(r);
  }
  out += fmt::format(
      "  server          {}; final set/get {}; {} evictions; ended with {}; {} sanitizer report "
      "lines\n",
      r.alive_after_load ? "alive after the load" : "DIED during the load",
      r.alive_after_load && r.final_check.empty() ? "verified" : "FAILED", r.evictions,
      r.alive_after_load ? r.exit + " on SIGTERM" : r.exit, r.sanitizer_reports.size());
  return out + problemLines(r, failed);
}

std::string reportJson(const SoakOptions& options, const std::vector<ConfigResult>& results,
                       bool passed) {
  std::string configs = "[";
  for (const ConfigResult& r : results) {
    configs += (configs.size() > 1 ? ", " : "") + configJson(options, r);
  }
  configs += "]";
  JsonObject o;
  o.add("benchmark", "spoold_soak")
      .add("spoold", options.spoold)
      .add("seconds_per_configuration", options.seconds);
  o.add("max_connections", options.max_connections).add("seed", options.seed);
  o.add("fd_slack", options.fd_slack).add("rss_slack_mib", options.rss_slack_mib);
  o.add("passed", passed).raw("configurations", configs);
  return o.str();
}

}  // namespace spool::bench
