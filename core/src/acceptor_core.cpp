#include "acceptor_core.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fcntl.h>

#include <cerrno>
#include <cstring>

#include "spool/errors.h"
#include "spool/log.h"

namespace spool::core {
namespace {

[[noreturn]] void throwErrno(const std::string& what, int error) {
  throw SetupError(what + ": " + std::strerror(error));
}

/// Unlinks a socket file left at `address` by a server that is gone;
/// refuses a path where a server still listens.
void replaceStaleSocket(const SocketAddress& address, const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    return;  // nothing there (or nothing we may see: bind() will say)
  }
  if (!S_ISSOCK(st.st_mode)) {
    throw SetupError("cannot listen on " + address.toString() +
                     ": the file exists and is not a socket");
  }
  // Non-blocking: a live listener whose backlog is full answers EAGAIN.
  FdGuard probe{::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)};
  if (probe.fd < 0) {
    throwErrno("socket(AF_UNIX)", errno);
  }
  if (::connect(probe.fd, address.get(), address.length) == 0 || errno == EAGAIN) {
    throw AddressInUseError("cannot listen on " + address.toString() +
                            ": a server is listening there (remove the file only if it is gone)");
  }
  if (errno == ECONNREFUSED) {
    ::unlink(path.c_str());  // stale: its server is gone
  }
}

/// The one listening socket at `address`, its file given `options.unix_mode`
/// and recorded in `bound.unix_file` (removed again if this fails later).
FdGuard bindUnixSocket(const SocketAddress& address, const ListenOptions& options,
                       BoundSockets& bound) {
  FdGuard sock{::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)};
  if (sock.fd < 0) {
    throwErrno("socket(AF_UNIX)", errno);
  }
  if (::bind(sock.fd, address.get(), address.length) != 0) {
    if (errno == EADDRINUSE) {  // another server bound it since replaceStaleSocket() looked
      throw AddressInUseError("cannot bind " + bound.name + ": " + std::strerror(EADDRINUSE));
    }
    throwErrno("cannot bind " + bound.name, errno);
  }
  struct stat st {};
  if (::stat(options.unix_path.c_str(), &st) != 0) {
    throwErrno("cannot stat " + bound.name, errno);
  }
  bound.unix_file = std::make_unique<UnixSocketFile>(options.unix_path, st.st_dev, st.st_ino);
  // Before listen(): until then a client's connect() is refused, so no one
  // gets in under the owner and permissions bind() gave the file. Owner
  // first: chown() may clear mode bits, chmod() does not touch the owner.
  if ((options.unix_uid || options.unix_gid) &&
      ::lchown(options.unix_path.c_str(), options.unix_uid.value_or(static_cast<uid_t>(-1)),
               options.unix_gid.value_or(static_cast<gid_t>(-1))) != 0) {
    throwErrno("cannot set the owner of " + bound.name, errno);
  }
  if (::chmod(options.unix_path.c_str(), options.unix_mode & 07777) != 0) {
    throwErrno("cannot set the mode of " + bound.name, errno);
  }
  if (::listen(sock.fd, options.backlog) != 0) {
    throwErrno("cannot listen on " + bound.name, errno);
  }
  return sock;
}

BoundSockets bindUnixSockets(const ListenOptions& options, std::size_t count) {
  const SocketAddress address = SocketAddress::unixPath(options.unix_path);
  BoundSockets bound;
  bound.name = address.toString();
  replaceStaleSocket(address, options.unix_path);
  FdGuard sock = bindUnixSocket(address, options, bound);
  // No SO_REUSEPORT for AF_UNIX: each loop gets a descriptor of the same socket.
  for (std::size_t i = 1; i < count; ++i) {
    FdGuard copy{::fcntl(sock.fd, F_DUPFD_CLOEXEC, 0)};
    if (copy.fd < 0) {
      throwErrno("dup(" + bound.name + ")", errno);
    }
    bound.sockets.push_back(std::move(copy));
  }
  bound.sockets.push_back(std::move(sock));
  return bound;
}

}  // namespace

void UnixSocketFile::remove() noexcept {
  if (removed_.exchange(true)) {
    return;
  }
  struct stat st {};
  if (::lstat(path_.c_str(), &st) == 0 && st.st_dev == device_ && st.st_ino == inode_ &&
      ::unlink(path_.c_str()) != 0) {
    // Say so: a file left behind makes the next server's start look at it.
    // (A server that gave up root can only remove a file it owns from a
    // sticky directory: ListenOptions::unix_uid.)
    const int error = errno;
    try {
      log(LogLevel::kWarning, "cannot remove the socket file {}: {}", path_, std::strerror(error));
    } catch (...) {  // noexcept: a message that cannot be formatted is dropped
    }
  }
}

BoundSockets bindListeners(const ListenOptions& options, std::size_t count) {
  if (!options.unix_path.empty()) {
    return bindUnixSockets(options, count);
  }
  SocketAddress address = SocketAddress::resolve(options.host, options.port, true);
  BoundSockets bound;
  bound.sockets = bindListeningSockets(address, options.backlog, count);
  bound.port = address.port();
  bound.name = address.toString();
  return bound;
}

std::string Admission::peerName(const sockaddr* addr, socklen_t length) const {
  std::string name = SocketAddress::fromSockaddr(addr, length).toString();
  if (!options_.unix_path.empty() && (name == "unix:" || name == "unknown")) {
    return "unix:" + options_.unix_path;
  }
  return name;
}

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
