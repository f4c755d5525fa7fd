#include "idle_conns.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "usage.h"

namespace spool::bench {
namespace {

int connectTo(const sockaddr_in& addr) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return -1;
  }
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

/// Writes `request` and reads until `protocol` parses one whole, correct answer.
std::string roundTrip(int fd, const std::string& request, const McProtocol& protocol, const McOp& op,
                      const KeySpace& keys, std::uint64_t deadline_ns) {
  if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(request.size())) {
    return "send failed";
  }
  std::string in;
  char chunk[4096];
  for (;;) {
    const ParsedReply r = protocol.parse(in, op, keys);
    if (r.reply == Reply::kBad) {
      return "bad answer: " + r.error;
    }
    if (r.reply != Reply::kIncomplete) {
      return r.consumed == in.size() ? "" : "bytes after the answer";
    }
    const std::uint64_t now = nowNs();
    pollfd p{fd, POLLIN, 0};
    if (now >= deadline_ns || ::poll(&p, 1, static_cast<int>((deadline_ns - now) / 1'000'000 + 1)) <= 0) {
      return "timed out";
    }
    const ssize_t n = ::recv(fd, chunk, sizeof(chunk), 0);
    if (n <= 0) {
      return n == 0 ? "the server closed the connection" : "recv failed";
    }
    in.append(chunk, static_cast<std::size_t>(n));
  }
}

}  // namespace

IdleConns::~IdleConns() {
  for (const int fd : fds) {
    ::close(fd);
  }
}

std::optional<long> processRssKb(pid_t pid) noexcept {
  char path[64];
  std::snprintf(path, sizeof(path), "/proc/%d/status", static_cast<int>(pid));
  FILE* file = std::fopen(path, "re");
  if (file == nullptr) {
    return std::nullopt;
  }
  char line[256];
  std::optional<long> rss;
  long value = 0;
  while (std::fgets(line, sizeof(line), file) != nullptr) {
    if (std::sscanf(line, "VmRSS: %ld kB", &value) == 1) {
      rss = value;
      break;
    }
  }
  std::fclose(file);
  return rss;
}

void openIdleConns(const std::string& host, unsigned port, const McProtocol& protocol, const KeySpace& keys,
                   unsigned count, pid_t server_pid, double timeout_s, IdleConns& out) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  if (::inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) {
    out.error = "idle connections need an IPv4 address";
    return;
  }
  if (server_pid > 0) {
    out.server_rss_before_kb = processRssKb(server_pid);
  }
  const McOp op{OpKind::kGet, 0, 0, 0};
  std::string request;
  protocol.encode(op, keys, request);
  const std::uint64_t start = nowNs();
  const std::uint64_t deadline = start + static_cast<std::uint64_t>(timeout_s * 1e9);
  out.fds.reserve(count);
  for (unsigned i = 0; i < count && out.error.empty(); ++i) {
    const int fd = connectTo(addr);
    if (fd < 0) {
      out.error = "idle connection " + std::to_string(i) + ": connect failed: " + std::strerror(errno);
      break;
    }
    out.fds.push_back(fd);
    if (std::string why = roundTrip(fd, request, protocol, op, keys, deadline); !why.empty()) {
      out.error = "idle connection " + std::to_string(i) + ": " + why;
    }
  }
  out.open_s = static_cast<double>(nowNs() - start) * 1e-9;
  if (server_pid > 0) {
    out.server_rss_after_kb = processRssKb(server_pid);
  }
}

}  // namespace spool::bench
