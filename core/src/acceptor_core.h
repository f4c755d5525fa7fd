// What every backend's acceptor shares: binding the listening sockets and
// deciding what to do with each accepted socket.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "loop_core.h"
#include "socket_address.h"
#include "spool/handler.h"
#include "spool/transport.h"

namespace spool::core {

/// Closes a descriptor it still owns.
struct FdGuard {
  int fd = -1;
  FdGuard() = default;
  explicit FdGuard(int f) noexcept : fd(f) {}
  FdGuard(FdGuard&& other) noexcept : fd(std::exchange(other.fd, -1)) {}
  FdGuard& operator=(FdGuard&&) = delete;
  ~FdGuard();
  int release() noexcept { return std::exchange(fd, -1); }
};

/// Fails when another socket holds `address` (a fixed port): SO_REUSEPORT
/// lets any socket of the same user join a port, so without this check a
/// second server would silently split the clients with the first. Call it
/// before binding a listener's sockets. A socket that binds the address in
/// the moment between this check and those binds is not caught.
/// @throws AddressInUseError
void requireAddressFree(const SocketAddress& address);

/// A non-blocking listening socket bound to `address` with SO_REUSEPORT
/// (one per loop); `address`'s port is updated when it was 0.
/// @throws SetupError naming the address and the system's reason.
int bindListeningSocket(SocketAddress& address, int backlog);

/// One listening socket per loop on `address` (the same port for all), after
/// requireAddressFree(). @throws SetupError or AddressInUseError.
std::vector<FdGuard> bindListeningSockets(SocketAddress& address, int backlog, std::size_t count);

/// A Unix socket's file. remove() (or the destructor) unlinks it if it is
/// still the file this listener bound, not one a later server made there.
/// Thread-safe: remove() may run on any thread, more than once.
class UnixSocketFile {
 public:
  UnixSocketFile(std::string path, dev_t device, ino_t inode)
      : path_(std::move(path)), device_(device), inode_(inode) {}
  ~UnixSocketFile() { remove(); }
  UnixSocketFile(const UnixSocketFile&) = delete;
  UnixSocketFile& operator=(const UnixSocketFile&) = delete;
  void remove() noexcept;

 private:
  const std::string path_;
  const dev_t device_;
  const ino_t inode_;
  std::atomic<bool> removed_{false};
};

/// What a listener listens with: one socket per loop.
struct BoundSockets {
  std::vector<FdGuard> sockets;
  std::uint16_t port = 0;                     ///< the bound TCP port; 0 for a Unix socket
  std::string name;                           ///< "127.0.0.1:11211" or "unix:/path", for messages
  std::unique_ptr<UnixSocketFile> unix_file;  ///< Unix sockets only
};

/// `count` listening sockets for `options`: SO_REUSEPORT sockets on one
/// TCP port (bindListeningSockets()), or, for a Unix socket, which has no
/// SO_REUSEPORT, descriptors of the one socket (every loop watches it; the
/// one that accepts first wins, the others find nothing and wait again).
/// A Unix socket file nobody listens on is replaced; the file gets
/// `unix_uid`/`unix_gid` and `unix_mode` before the socket listens.
/// @throws SetupError, AddressInUseError (the TCP address or the Unix path
/// is held by a live listener).
BoundSockets bindListeners(const ListenOptions& options, std::size_t count);

/// One loop's admission rule for accepted sockets: the connection limit, the
/// reject message, and the handler factory. Loop thread only.
class Admission {
 public:
  Admission(LoopCore& loop, const ListenOptions& options, HandlerFactory factory)
      : loop_(loop), options_(options), factory_(std::move(factory)) {}

  /// The handler for accepted socket `fd` from `peer`, with a connection
  /// limit slot taken; or null, with `fd` already closed (over the limit:
  /// counted, told reject_message, logged at most once a second; or the
  /// factory failed).
  [[nodiscard]] HandlerPtr admit(int fd, const std::string& peer);
  [[nodiscard]] const ListenOptions& options() const noexcept { return options_; }
  /// How to name the peer at `addr`: its address, or for a Unix socket's
  /// (nameless) client, "unix:" and the listener's path.
  [[nodiscard]] std::string peerName(const sockaddr* addr, socklen_t length) const;

 private:
  void reject(int fd, const std::string& peer);

  LoopCore& loop_;
  const ListenOptions options_;
  HandlerFactory factory_;
  std::chrono::steady_clock::time_point last_reject_log_{};
};

}  // namespace spool::core
