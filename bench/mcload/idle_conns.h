// Idle connections for mcload's "how cost grows" rows: many connections,
// each answered once and then left open and silent while the load runs.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "mc_protocol.h"

namespace spool::bench {

struct IdleConns {
  std::vector<int> fds;                 ///< open until this is destroyed
  double open_s = 0;                    ///< connect + one get answered, all of them
  std::optional<long> server_rss_before_kb;  ///< server's VmRSS before the first connect
  std::optional<long> server_rss_after_kb;   ///< ... once every connection was answered
  std::string error;                    ///< non-empty when one could not be opened or answered

  IdleConns() = default;
  IdleConns(const IdleConns&) = delete;
  IdleConns& operator=(const IdleConns&) = delete;
  ~IdleConns();
};

/// Opens `count` plain-TCP connections to host:port one after another, each
/// sending one get of key 0 over `protocol` and reading its checked answer
/// (blocking, at most `timeout_s` for all of them), so the server has
/// accepted, read and answered every one. `server_pid` > 0: samples its RSS.
void openIdleConns(const std::string& host, unsigned port, const McProtocol& protocol, const KeySpace& keys,
                   unsigned count, pid_t server_pid, double timeout_s, IdleConns& out);

/// VmRSS of `pid` in KiB, from /proc; nullopt when it cannot be read.
std::optional<long> processRssKb(pid_t pid) noexcept;

}  // namespace spool::bench
