#include "listen_backlog.h"

#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <fstream>
#include <functional>

namespace spool::test {
namespace {

/// Sends one sock_diag dump request and calls `visit` with each reply
/// message's payload until the dump ends. @return false on a netlink error.
template <typename Request>
bool dump(const Request& request, const std::function<void(nlmsghdr&)>& visit) {
  const int fd = ::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  if (fd < 0) {
    return false;
  }
  struct {
    nlmsghdr header;
    Request body;
  } message{};
  message.header.nlmsg_len = sizeof(message);
  message.header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  message.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  message.body = request;
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  bool ok = ::sendto(fd, &message, sizeof(message), 0, reinterpret_cast<sockaddr*>(&kernel),
                     sizeof(kernel)) == static_cast<ssize_t>(sizeof(message));
  alignas(nlmsghdr) std::array<char, 32768> buffer{};
  // Bounded: a dump of every listening socket ends in a few reads.
  for (int reads = 0; ok && reads < 10'000; ++reads) {
    const ssize_t n = ::recv(fd, buffer.data(), buffer.size(), 0);
    if (n <= 0) {
      ok = false;
      break;
    }
    auto* header = reinterpret_cast<nlmsghdr*>(buffer.data());
    for (auto left = static_cast<unsigned>(n); NLMSG_OK(header, left);
         header = NLMSG_NEXT(header, left)) {
      if (header->nlmsg_type == NLMSG_DONE) {
        ::close(fd);
        return true;
      }
      if (header->nlmsg_type == NLMSG_ERROR) {
        ok = false;
        break;
      }
      visit(*header);
    }
  }
  ::close(fd);
  return false;
}

}  // namespace

std::vector<unsigned> tcpListenBacklogs(std::uint16_t port) {
  std::vector<unsigned> backlogs;
  for (const std::uint8_t family : {AF_INET, AF_INET6}) {
    inet_diag_req_v2 request{};
    request.sdiag_family = family;
    request.sdiag_protocol = IPPROTO_TCP;
    request.idiag_states = 1u << TCP_LISTEN;
    dump(request, [&](nlmsghdr& header) {
      const auto* msg = static_cast<const inet_diag_msg*>(NLMSG_DATA(&header));
      if (ntohs(msg->id.idiag_sport) == port) {
        backlogs.push_back(msg->idiag_wqueue);  // a listener's max_ack_backlog
      }
    });
  }
  return backlogs;
}

std::optional<unsigned> unixListenBacklog(const std::string& path) {
  unix_diag_req request{};
  request.sdiag_family = AF_UNIX;
  request.udiag_states = 1u << TCP_LISTEN;
  request.udiag_show = UDIAG_SHOW_NAME | UDIAG_SHOW_RQLEN;
  std::optional<unsigned> backlog;
  dump(request, [&](nlmsghdr& header) {
    auto* msg = static_cast<unix_diag_msg*>(NLMSG_DATA(&header));
    auto left = static_cast<int>(header.nlmsg_len - NLMSG_LENGTH(sizeof(*msg)));
    std::string name;
    std::optional<unsigned> queue;
    for (auto* attr = reinterpret_cast<rtattr*>(msg + 1); RTA_OK(attr, left);
         attr = RTA_NEXT(attr, left)) {
      if (attr->rta_type == UNIX_DIAG_NAME) {
        name.assign(static_cast<const char*>(RTA_DATA(attr)), RTA_PAYLOAD(attr));
        name.erase(std::find(name.begin(), name.end(), '\0'),
                   name.end());  // a bound length may count the NUL
      } else if (attr->rta_type == UNIX_DIAG_RQLEN) {
        queue = static_cast<const unix_diag_rqlen*>(RTA_DATA(attr))->udiag_wqueue;
      }
    }
    if (name == path) {
      backlog = queue;
    }
  });
  return backlog;
}

unsigned effectiveBacklog(unsigned backlog) {
  std::ifstream in("/proc/sys/net/core/somaxconn");
  unsigned limit = 0;
  return in >> limit ? std::min(backlog, limit) : backlog;
}

}  // namespace spool::test
