// Helpers shared by the test suites: a running transport, a recording
// handler, and waits that use condition variables (never sleeps).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "spool/transport.h"

namespace spool::test {

using namespace std::chrono_literals;

/// True when the suite runs over TLS (environment SPOOL_TEST_TLS=1): the
/// same tests, with every listener and client made through serverOptions()
/// and clientOptions() using the test PKI (test_pki.h).
bool tlsMode();
/// Loopback listener options: TLS in TLS mode (with a handshake timeout as
/// generous as kWaitLimit).
ListenOptions serverOptions(const std::string& host = "127.0.0.1");
/// Client options for `port`: TLS (trusting the test CA) in TLS mode.
ConnectOptions clientOptions(std::uint16_t port, const std::string& host = "127.0.0.1");

/// Generous bound for anything a test waits on: long enough for a loaded
/// 2-core machine under ThreadSanitizer, short enough to fail a hung test.
inline constexpr std::chrono::seconds kWaitLimit{60};

/// A value guarded by a mutex with a condition variable: the test-side way
/// to wait for something another thread does.
template <typename T>
class Watched {
 public:
  explicit Watched(T initial = T{}) : value_(std::move(initial)) {}

  template <typename Fn>
  void update(Fn&& fn) {
    {
      std::lock_guard lock(mutex_);
      fn(value_);
    }
    cv_.notify_all();
  }
  /// Waits until pred(value) holds; false on timeout.
  template <typename Pred>
  bool waitUntil(Pred&& pred, std::chrono::milliseconds limit = kWaitLimit) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, limit, [&] { return pred(value_); });
  }
  T get() const {
    std::lock_guard lock(mutex_);
    return value_;
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  T value_;
};

/// Everything a RecordingHandler saw, shared with the test thread.
struct Recording {
  bool opened = false;
  bool closed = false;
  int close_calls = 0;
  int writable_calls = 0;
  CloseReason reason;
  std::string data;
};
using RecordingPtr = std::shared_ptr<Watched<Recording>>;

/// Notes a close (what every recording handler's onClose does).
void recordClose(Watched<Recording>& record, const CloseReason& reason);

/// Records every callback; optionally echoes what it receives.
class RecordingHandler : public ConnectionHandler {
 public:
  explicit RecordingHandler(RecordingPtr record, bool echo = false)
      : record_(std::move(record)), echo_(echo) {}

  void onOpen(Connection& conn) override;
  void onData(Connection& conn, InputBuffer& input) override;
  void onWritable(Connection& conn) override;
  void onClose(Connection& conn, const CloseReason& reason) override;

 private:
  RecordingPtr record_;
  bool echo_;
};

/// Discards what arrives, adding its size to a total shared by any number
/// of connections.
class ByteCounter : public ConnectionHandler {
 public:
  explicit ByteCounter(std::shared_ptr<Watched<std::uint64_t>> total) : total_(std::move(total)) {}
  void onData(Connection& conn, InputBuffer& input) override;

 private:
  std::shared_ptr<Watched<std::uint64_t>> total_;
};

/// Echoes everything back, honouring backpressure: when a send is refused
/// it keeps the payload, stops reading, and resumes on onWritable().
class EchoHandler : public ConnectionHandler {
 public:
  void onData(Connection& conn, InputBuffer& input) override;
  void onWritable(Connection& conn) override;

 private:
  Buffer pending_;
};

/// Where a RawClient connects to a Unix domain socket.
struct UnixSocketPath {
  std::string path;
};

/// A blocking POSIX socket, for tests that need a peer spool does not drive
/// (one that never reads, resets, or half-closes).
class RawClient {
 public:
  RawClient(const std::string& host, std::uint16_t port);
  explicit RawClient(const UnixSocketPath& unix_socket);
  ~RawClient();
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  void sendAll(std::string_view bytes);
  /// Reads until `size` bytes arrived or the limit passed; returns what came.
  std::string receive(std::size_t size, std::chrono::milliseconds limit = kWaitLimit);
  /// Reads until EOF (or the limit); returns what came.
  std::string receiveUntilEof(std::chrono::milliseconds limit = kWaitLimit);
  void shutdownWrite();
  /// Closes with SO_LINGER 0: the peer sees a reset.
  void reset();
  void close();
  [[nodiscard]] int fd() const noexcept { return fd_; }

 private:
  int fd_ = -1;
};

/// Records accepted connections' recordings in accept order.
struct AcceptLog {
  std::vector<RecordingPtr> recordings;
  std::vector<ConnectionPtr> connections;
  /// acceptTargets(): the client ends, in connect order (not accept order).
  std::vector<ConnectionPtr> client_connections;
};

/// Server-side handler for producer tests: publishes each accepted
/// connection with a recording whose writable_calls counts onWritable(), and
/// discards what the peer sends.
class TargetHandler : public ConnectionHandler {
 public:
  explicit TargetHandler(std::shared_ptr<Watched<AcceptLog>> log) : log_(std::move(log)) {}
  void onOpen(Connection& conn) override;
  void onData(Connection&, InputBuffer& input) override { input.consume(input.size()); }
  void onWritable(Connection&) override;
  void onClose(Connection&, const CloseReason& reason) override;

 private:
  std::shared_ptr<Watched<AcceptLog>> log_;
  RecordingPtr record_ = std::make_shared<Watched<Recording>>();
};

/// Listens with TargetHandler, connects `count` clients made by
/// `make_client`, and waits until all are accepted.
AcceptLog acceptTargets(Transport& server, Transport& clients, std::size_t count,
                        const std::function<HandlerPtr()>& make_client);

/// Sends, waiting on `writable` (a TargetHandler recording) while the
/// connection pushes back. Returns kOk or kClosed; kBackpressure when a
/// refusal was followed by neither onWritable() nor a close within
/// kWaitLimit (a lost onWritable: callers must treat it as a failure and
/// stop sending). Safe from any thread (no Catch2 assertions inside).
SendResult sendBlocking(Connection& conn, Buffer&& payload, const RecordingPtr& writable);

/// A started transport that stops on destruction.
class RunningTransport {
 public:
  explicit RunningTransport(unsigned loops = 2, TransportOptions options = {});
  ~RunningTransport();
  Transport& operator*() { return *transport_; }
  Transport* operator->() { return transport_.get(); }

 private:
  std::unique_ptr<Transport> transport_;
};

/// Connects with a RecordingHandler and waits until open; fails the test
/// when the connection cannot be made.
ConnectionPtr connectAndWait(Transport& transport, std::uint16_t port, RecordingPtr record,
                             const std::string& host = "127.0.0.1",
                             ConnectionOptions options = ConnectOptions{}.connection);

/// A fresh directory under the system's temporary folder, removed (with
/// what is in it) by the destructor.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  [[nodiscard]] const std::string& path() const noexcept { return path_; }
  /// path() + "/" + name.
  [[nodiscard]] std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

/// For what only root can set up (another user's files, a switch of user,
/// locking memory): true when running as root. Otherwise the test fails,
/// naming what it needs, unless SPOOL_TEST_SKIP_ROOT_ONLY=1 says such tests
/// are skipped on purpose (a developer's machine): then it warns and
/// returns false, and the caller returns. CI runs as root, where every one
/// of them runs.
bool requireRoot(const std::string& why);

/// FNV-1a over bytes, for checksummed transfers.
std::uint64_t fnv1a(std::string_view bytes, std::uint64_t seed = 1469598103934665603ull);

/// Deterministic pseudo-random bytes.
std::string patternBytes(std::size_t size, std::uint64_t seed);

}  // namespace spool::test
