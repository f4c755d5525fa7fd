// Address resolution and formatting for listeners and outgoing connections.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <string>

namespace spool::core {

struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;

  [[nodiscard]] const sockaddr* get() const noexcept {
    return reinterpret_cast<const sockaddr*>(&storage);
  }
  [[nodiscard]] int family() const noexcept { return storage.ss_family; }
  /// "127.0.0.1:11211", "[::1]:11211" or "unix:/run/spoold.sock" (a Unix
  /// socket's peer, which has no name of its own: "unix:").
  [[nodiscard]] std::string toString() const;
  [[nodiscard]] std::uint16_t port() const noexcept;
  void setPort(std::uint16_t port) noexcept;

  /// Resolves host:port (numeric or by name; first result wins).
  /// @throws SetupError naming the host and the resolver's reason.
  static SocketAddress resolve(const std::string& host, std::uint16_t port, bool passive);
  /// An AF_UNIX address. @throws SetupError when `path` is empty or too long.
  static SocketAddress unixPath(const std::string& path);
  static SocketAddress fromSockaddr(const sockaddr* addr, socklen_t length) noexcept;
};

}  // namespace spool::core
