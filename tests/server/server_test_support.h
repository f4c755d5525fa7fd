// Helpers for the spoold tests: a raw socket client, child processes, an
// in-process server, and real peers (memcached) started on free ports.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "child_process.h"
#include "server.h"
#include "settings.h"

namespace spoold::test {

using spool::test::ChildProcess;

using namespace std::chrono_literals;

/// Bound on every wait in these tests (a loaded 2-core machine under TSan).
inline constexpr std::chrono::milliseconds kTimeout{20'000};

/// A blocking TCP client whose reads poll with a deadline. Uses no Catch2
/// macro, so test threads may use it too; the constructor throws
/// std::runtime_error when it cannot connect.
class RawClient {
 public:
  /// @param receive_buffer SO_RCVBUF before connecting (0: the default); a
  ///        small one makes a client that does not read hit the server's
  ///        send budget quickly instead of after megabytes of kernel buffers.
  explicit RawClient(std::uint16_t port, const std::string& host = "127.0.0.1",
                     int receive_buffer = 0);
  /// A client of the Unix domain socket at `unix_path`.
  explicit RawClient(const std::string& unix_path);
  ~RawClient();
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  void send(std::string_view bytes);
  /// Sends `bytes` `piece` bytes at a time (TCP_NODELAY: one segment each).
  void sendInPieces(std::string_view bytes, std::size_t piece);
  /// Reads until `n` bytes have arrived (fewer on EOF or timeout).
  std::string read(std::size_t n, std::chrono::milliseconds limit = kTimeout);
  /// Reads until the data received ends with `suffix`.
  std::string readUntil(std::string_view suffix, std::chrono::milliseconds limit = kTimeout);
  /// Reads until the data holds `needle` and then ends with `suffix`.
  std::string readUntilContains(std::string_view needle, std::string_view suffix,
                                std::chrono::milliseconds limit = kTimeout);
  /// Reads until the server closes (EOF or reset).
  std::string readToEof(std::chrono::milliseconds limit = kTimeout);
  /// True once the server has closed the connection (false on timeout).
  [[nodiscard]] bool closed() const noexcept { return closed_; }
  /// Sends a request and reads its response up to `terminator`.
  std::string roundTrip(std::string_view request, std::string_view terminator = "\r\n");
  void shutdownWrite();
  [[nodiscard]] int fd() const noexcept { return fd_; }

 private:
  /// One poll+recv; false on timeout or close.
  bool readSome(std::string& into, std::chrono::steady_clock::time_point deadline);

  int fd_ = -1;
  bool closed_ = false;
};

/// An in-process spoold on 127.0.0.1, port 0.
class TestServer {
 public:
  explicit TestServer(ExecMode mode, Settings settings = {});
  ~TestServer();
  [[nodiscard]] std::uint16_t port() const noexcept { return server_->port(); }
  [[nodiscard]] Server& server() noexcept { return *server_; }

  /// Settings for tests: two loops, small memory.
  static Settings defaults(ExecMode mode);

 private:
  std::unique_ptr<Server> server_;
};


/// The absolute path of `program` in PATH; fails the test with a clear
/// message when it is not installed (CI installs every peer).
std::string requireProgram(const std::string& program, const std::string& package);

/// A port that was free a moment ago (bind to 0, read it, close).
std::uint16_t freePort();

/// Waits until something accepts connections on 127.0.0.1:port.
bool waitForListener(std::uint16_t port, std::chrono::milliseconds limit = kTimeout);

/// Waits until something accepts connections on the Unix socket at `path`.
bool waitForUnixListener(const std::string& path, std::chrono::milliseconds limit = kTimeout);

/// Debian's memcached on a free loopback port.
class Memcached {
 public:
  explicit Memcached(std::vector<std::string> extra_args = {});
  [[nodiscard]] std::uint16_t port() const noexcept { return port_; }

 private:
  std::uint16_t port_ = 0;
  std::unique_ptr<ChildProcess> process_;
};

/// argv for the spoold executable `binary`: `-u nobody` first when the tests
/// run as root (spoold, like memcached, refuses root without -u), then `args`.
std::vector<std::string> spooldArgv(const std::string& binary, const std::vector<std::string>& args);

/// The spoold executable started on a free port (-p 0 -v -t 2, plus `extra`),
/// with the port it announces on stderr.
struct SpooldProcess {
  SpooldProcess(const std::string& binary, const std::vector<std::string>& extra = {});
  std::unique_ptr<ChildProcess> process;
  std::uint16_t port = 0;
};

/// Reads one `stats` value over the text protocol ("" when missing).
std::string statValue(std::uint16_t port, std::string_view name);

}  // namespace spoold::test
