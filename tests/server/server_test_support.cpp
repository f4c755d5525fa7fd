#include "server_test_support.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <stdexcept>

extern char** environ;

namespace spoold::test {
namespace {

using Clock = std::chrono::steady_clock;

int remainingMs(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() > 0 ? static_cast<int>(left.count()) : 0;
}

int connectTo(const std::string& host, std::uint16_t port, int receive_buffer = 0) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return -1;
  }
  if (receive_buffer > 0) {
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof(receive_buffer));
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  ::inet_pton(AF_INET, host.c_str(), &addr.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

int connectToUnix(const std::string& path) {
  sockaddr_un addr{};
  if (path.size() >= sizeof(addr.sun_path)) {
    return -1;
  }
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(), path.size());
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

// ---------------------------------------------------------------------------
// RawClient

RawClient::RawClient(std::uint16_t port, const std::string& host, int receive_buffer)
    : fd_(connectTo(host, port, receive_buffer)) {
  // No Catch2 macro here: clients also run on the tests' own threads.
  if (fd_ < 0) {
    throw std::runtime_error("connect to " + host + ":" + std::to_string(port) + ": " + std::strerror(errno));
  }
}

RawClient::RawClient(const std::string& unix_path) : fd_(connectToUnix(unix_path)) {
  if (fd_ < 0) {
    throw std::runtime_error("connect to " + unix_path + ": " + std::strerror(errno));
  }
}

RawClient::~RawClient() {
  if (fd_ >= 0) {
    ::close(fd_);
  }
}

void RawClient::send(std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return;  // the server closed: the reads will tell
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
}

void RawClient::sendInPieces(std::string_view bytes, std::size_t piece) {
  for (std::size_t i = 0; i < bytes.size(); i += piece) {
    send(bytes.substr(i, piece));
  }
}

bool RawClient::readSome(std::string& into, Clock::time_point deadline) {
  pollfd pfd{fd_, POLLIN, 0};
  const int ready = ::poll(&pfd, 1, remainingMs(deadline));
  if (ready <= 0) {
    return false;
  }
  char buffer[65536];
  const ssize_t n = ::recv(fd_, buffer, sizeof(buffer), 0);
  if (n <= 0) {
    closed_ = true;
    return false;
  }
  into.append(buffer, static_cast<std::size_t>(n));
  return true;
}

std::string RawClient::read(std::size_t n, std::chrono::milliseconds limit) {
  std::string data;
  const auto deadline = Clock::now() + limit;
  while (data.size() < n && readSome(data, deadline)) {
  }
  return data;
}

std::string RawClient::readUntil(std::string_view suffix, std::chrono::milliseconds limit) {
  std::string data;
  const auto deadline = Clock::now() + limit;
  while (!std::string_view(data).ends_with(suffix) && readSome(data, deadline)) {
  }
  return data;
}

std::string RawClient::readUntilContains(std::string_view needle, std::string_view suffix,
                                         std::chrono::milliseconds limit) {
  std::string data;
  const auto deadline = Clock::now() + limit;
  std::size_t at = std::string::npos;
  std::size_t searched = 0;  // only new bytes are searched: dumps run to megabytes
  const auto done = [&] {
    if (at == std::string::npos) {
      at = data.find(needle, searched > needle.size() ? searched - needle.size() : 0);
      searched = data.size();
    }
    return at != std::string::npos && std::string_view(data).substr(at + needle.size()).ends_with(suffix);
  };
  while (!done() && readSome(data, deadline)) {
  }
  return data;
}

std::string RawClient::readToEof(std::chrono::milliseconds limit) {
  std::string data;
  const auto deadline = Clock::now() + limit;
  while (readSome(data, deadline)) {
  }
  return data;
}

std::string RawClient::roundTrip(std::string_view request, std::string_view terminator) {
  send(request);
  return readUntil(terminator);
}

void RawClient::shutdownWrite() { ::shutdown(fd_, SHUT_WR); }

// ---------------------------------------------------------------------------
// TestServer

Settings TestServer::defaults(ExecMode mode) {
  Settings s;
  s.port = 0;
  s.threads = 2;
  s.exec = mode;
  s.workers = 2;
  s.memory_limit = 64u << 20;
  return s;
}

TestServer::TestServer(ExecMode mode, Settings settings) {
  settings.exec = mode;
  settings.port = 0;
  server_ = std::make_unique<Server>(settings);
  server_->start();
}

TestServer::~TestServer() { server_->stop(); }

// ---------------------------------------------------------------------------
// Peers

std::string requireProgram(const std::string& program, const std::string& package) {
  const char* path = std::getenv("PATH");
  // nutcracker lives in /usr/sbin, which a non-root PATH may lack.
  const std::string all = std::string(path != nullptr ? path : "/usr/bin:/bin") + ":/usr/sbin:/sbin";
  std::string_view rest = all;
  while (!rest.empty()) {
    const std::size_t colon = rest.find(':');
    const std::filesystem::path candidate = std::filesystem::path(std::string(rest.substr(0, colon))) / program;
    if (::access(candidate.c_str(), X_OK) == 0) {
      return candidate.string();
    }
    rest = colon == std::string_view::npos ? std::string_view{} : rest.substr(colon + 1);
  }
  FAIL("'" << program << "' is not installed: apt-get install " << package
           << " (scripts/install-deps.sh installs every peer these tests need)");
  return {};
}

std::uint16_t freePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  socklen_t length = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &length);
  ::close(fd);
  return ntohs(addr.sin_port);
}

namespace {

/// An external program gives no readiness signal: try `connect` (a socket
/// or -1), backing off on a poll() timeout, within the limit.
template <typename Connect>
bool waitUntilConnects(Connect connect, std::chrono::milliseconds limit) {
  const auto deadline = Clock::now() + limit;
  int backoff_ms = 5;
  while (Clock::now() < deadline) {
    const int fd = connect();
    if (fd >= 0) {
      ::close(fd);
      return true;
    }
    ::poll(nullptr, 0, backoff_ms);
    backoff_ms = std::min(backoff_ms * 2, 100);
  }
  return false;
}

}  // namespace

bool waitForListener(std::uint16_t port, std::chrono::milliseconds limit) {
  return waitUntilConnects([port] { return connectTo("127.0.0.1", port); }, limit);
}

bool waitForUnixListener(const std::string& path, std::chrono::milliseconds limit) {
  return waitUntilConnects([&path] { return connectToUnix(path); }, limit);
}

Memcached::Memcached(std::vector<std::string> extra_args) {
  const std::string binary = requireProgram("memcached", "memcached");
  port_ = freePort();
  std::vector<std::string> argv{binary, "-u", "root", "-l", "127.0.0.1", "-p", std::to_string(port_), "-U", "0", "-t", "2"};
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  process_ = std::make_unique<ChildProcess>(argv);
  INFO("memcached output: " << process_->output());
  REQUIRE(waitForListener(port_));
}

std::vector<std::string> spooldArgv(const std::string& binary, const std::vector<std::string>& args) {
  std::vector<std::string> argv{binary};
  if (::geteuid() == 0) {
    argv.insert(argv.end(), {"-u", "nobody"});
  }
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

SpooldProcess::SpooldProcess(const std::string& binary, const std::vector<std::string>& extra) {
  std::vector<std::string> args{"-p", "0", "-v", "-t", "2"};
  args.insert(args.end(), extra.begin(), extra.end());
  process = std::make_unique<ChildProcess>(spooldArgv(binary, args));
  const std::string line = process->waitForLine("spoold ");
  INFO(process->output());
  const std::size_t colon = line.rfind(':');
  REQUIRE(line.find("listening on ") != std::string::npos);
  REQUIRE(colon != std::string::npos);
  port = static_cast<std::uint16_t>(std::stoi(line.substr(colon + 1)));
}

std::string statValue(std::uint16_t port, std::string_view name) {
  RawClient client(port);
  const std::string stats = client.roundTrip("stats\r\n", "END\r\n");
  const std::string key = "STAT " + std::string(name) + " ";
  const std::size_t at = stats.find(key);
  if (at == std::string::npos) {
    return {};
  }
  const std::size_t start = at + key.size();
  return stats.substr(start, stats.find("\r\n", start) - start);
}

}  // namespace spoold::test
