#include "socket_address.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <cstddef>
#include <cstring>
#include <memory>

#include "spool/errors.h"

namespace spool::core {

std::string SocketAddress::toString() const {
  char text[INET6_ADDRSTRLEN] = {};
  if (family() == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&storage);
    inet_ntop(AF_INET, &in->sin_addr, text, sizeof(text));
    std::string out(text);
    out += ':';
    out += std::to_string(ntohs(in->sin_port));
    return out;
  }
  if (family() == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&storage);
    inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof(text));
    std::string out = "[";
    out += text;
    out += "]:";
    out += std::to_string(ntohs(in6->sin6_port));
    return out;
  }
  if (family() == AF_UNIX) {
    const auto* un = reinterpret_cast<const sockaddr_un*>(&storage);
    const std::size_t offset = offsetof(sockaddr_un, sun_path);
    const std::size_t size = length > offset ? length - offset : 0;
    return "unix:" + std::string(un->sun_path, strnlen(un->sun_path, size));
  }
  return "unknown";
}

std::uint16_t SocketAddress::port() const noexcept {
  if (family() == AF_INET) {
    return ntohs(reinterpret_cast<const sockaddr_in*>(&storage)->sin_port);
  }
  if (family() == AF_INET6) {
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_port);
  }
  return 0;
}

void SocketAddress::setPort(std::uint16_t port) noexcept {
  if (family() == AF_INET) {
    reinterpret_cast<sockaddr_in*>(&storage)->sin_port = htons(port);
  } else if (family() == AF_INET6) {
    reinterpret_cast<sockaddr_in6*>(&storage)->sin6_port = htons(port);
  }
}

SocketAddress SocketAddress::resolve(const std::string& host, std::uint16_t port, bool passive) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
  addrinfo* raw = nullptr;
  const std::string service = std::to_string(port);
  const int rc = getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints, &raw);
  if (rc != 0) {
    throw SetupError("cannot resolve '" + host + "': " + gai_strerror(rc));
  }
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> list(raw, &freeaddrinfo);
  return fromSockaddr(list->ai_addr, list->ai_addrlen);
}

SocketAddress SocketAddress::unixPath(const std::string& path) {
  SocketAddress result;
  auto* un = reinterpret_cast<sockaddr_un*>(&result.storage);
  if (path.empty() || path.size() >= sizeof(un->sun_path)) {
    throw SetupError("bad Unix socket path '" + path + "': empty or longer than " +
                     std::to_string(sizeof(un->sun_path) - 1) + " bytes");
  }
  un->sun_family = AF_UNIX;
  std::memcpy(un->sun_path, path.data(), path.size());
  result.length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + 1);
  return result;
}

SocketAddress SocketAddress::fromSockaddr(const sockaddr* addr, socklen_t length) noexcept {
  SocketAddress result;
  length = std::min<socklen_t>(length, sizeof(result.storage));
  std::memcpy(&result.storage, addr, length);
  result.length = length;
  return result;
}

}  // namespace spool::core
