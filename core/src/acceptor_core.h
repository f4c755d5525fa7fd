// What every backend's acceptor shares: binding the listening sockets and
// deciding what to do with each accepted socket.
#pragma once

#include <chrono>
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

 private:
  void reject(int fd, const std::string& peer);

  LoopCore& loop_;
  const ListenOptions options_;
  HandlerFactory factory_;
  std::chrono::steady_clock::time_point last_reject_log_{};
};

}  // namespace spool::core
