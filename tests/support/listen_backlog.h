// The listen backlog of a listening socket, as `ss -ltn` shows it in Send-Q:
// read from the kernel's sock_diag netlink interface, since no getsockopt
// returns it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace spool::test {

/// The backlogs (sk_max_ack_backlog) of the TCP sockets listening on `port`
/// (IPv4 and IPv6; one per loop with SO_REUSEPORT); empty when none does.
std::vector<unsigned> tcpListenBacklogs(std::uint16_t port);

/// The backlog of the Unix stream socket listening at `path`; nullopt when
/// none does.
std::optional<unsigned> unixListenBacklog(const std::string& path);

/// What the kernel makes of listen(fd, `backlog`): at most
/// /proc/sys/net/core/somaxconn.
unsigned effectiveBacklog(unsigned backlog);

}  // namespace spool::test
