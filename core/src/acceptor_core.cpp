#include "acceptor_core.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "spool/errors.h"
#include "spool/log.h"

namespace spool::core {
namespace {

[[noreturn]] void throwErrno(const std::string& what, int error) {
  throw SetupError(what + ": " + std::strerror(error));
}

}  // namespace

FdGuard::~FdGuard() {
  if (fd >= 0) {
    ::close(fd);
  }
}

void requireAddressFree(const SocketAddress& address) {
  if (address.port() == 0) {
    return;  // a fresh ephemeral port
  }
  // A probe without SO_REUSEPORT cannot share the port with anyone: its
  // bind fails exactly when some socket holds the address.
  FdGuard probe{::socket(address.family(), SOCK_STREAM | SOCK_CLOEXEC, 0)};
  if (probe.fd < 0) {
    throwErrno("socket()", errno);
  }
  const int one = 1;
  ::setsockopt(probe.fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));  // TIME_WAIT is no holder
  if (address.family() == AF_INET6) {
    ::setsockopt(probe.fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
  }
  if (::bind(probe.fd, address.get(), address.length) != 0 && errno == EADDRINUSE) {
    throw AddressInUseError("cannot listen on " + address.toString() + ": " + std::strerror(EADDRINUSE) +
                            " (another process or transport listens there)");
  }
}

std::vector<FdGuard> bindListeningSockets(SocketAddress& address, int backlog, std::size_t count) {
  requireAddressFree(address);
  std::vector<FdGuard> sockets;
  sockets.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    sockets.emplace_back(bindListeningSocket(address, backlog));
  }
  return sockets;
}

int bindListeningSocket(SocketAddress& address, int backlog) {
  FdGuard sock{::socket(address.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)};
  if (sock.fd < 0) {
    throwErrno("socket()", errno);
  }
  const int one = 1;
  ::setsockopt(sock.fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (::setsockopt(sock.fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) {
    throwErrno("setsockopt(SO_REUSEPORT)", errno);
  }
  if (address.family() == AF_INET6) {
    ::setsockopt(sock.fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
  }
  if (::bind(sock.fd, address.get(), address.length) != 0) {
    throwErrno("cannot bind " + address.toString(), errno);
  }
  if (::listen(sock.fd, backlog) != 0) {
    throwErrno("cannot listen on " + address.toString(), errno);
  }
  if (address.port() == 0) {
    sockaddr_storage bound{};
    socklen_t length = sizeof(bound);
    ::getsockname(sock.fd, reinterpret_cast<sockaddr*>(&bound), &length);
    address.setPort(SocketAddress::fromSockaddr(reinterpret_cast<sockaddr*>(&bound), length).port());
  }
  return sock.release();
}

HandlerPtr Admission::admit(int fd, const std::string& peer) {
  loop_.assertInLoopThread("Admission::admit");
  if (!loop_.connectionLimit().tryAcquire()) {
    reject(fd, peer);
    return nullptr;
  }
  HandlerPtr handler;
  try {
    handler = factory_();
  } catch (const std::exception& e) {
    log(LogLevel::kError, "{}: handler factory failed for {}: {}", loop_.name(), peer, e.what());
  }
  if (!handler) {
    loop_.connectionLimit().release();
    ::close(fd);
  }
  return handler;
}

void Admission::reject(int fd, const std::string& peer) {
  bump(loop_.counters().connections_rejected);
  if (!options_.reject_message.empty()) {
    // Best effort on a fresh socket: never blocks, never raises SIGPIPE.
    [[maybe_unused]] const auto n = ::send(fd, options_.reject_message.data(), options_.reject_message.size(),
                                           MSG_NOSIGNAL | MSG_DONTWAIT);
  }
  ::close(fd);
  const auto now = std::chrono::steady_clock::now();
  if (now - last_reject_log_ >= std::chrono::seconds(1)) {
    last_reject_log_ = now;
    log(LogLevel::kWarning, "{}: connection limit ({}) reached: rejected {} ({} rejected so far)", loop_.name(),
        loop_.options().max_connections, peer,
        loop_.counters().connections_rejected.load(std::memory_order_relaxed));
  }
}

}  // namespace spool::core
