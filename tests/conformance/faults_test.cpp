// Faults that must harm nobody but the connection at fault: running out of
// descriptors, idle peers, garbage, floods, and too many connections.
#include <catch2/catch.hpp>
#include <sys/resource.h>

#include <algorithm>
#include <filesystem>
#include <vector>
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string_view>
#include <thread>

#include "spool/errors.h"
#include "spool/log.h"
#include "test_support.h"

using namespace spool;
using namespace spool::test;

namespace {

int openDescriptors() {
  int count = 0;
  if (DIR* dir = opendir("/proc/self/fd")) {
    while (readdir(dir) != nullptr) {
      ++count;
    }
    closedir(dir);
  }
  return count - 2;  // "." and ".."
}

/// Lowers RLIMIT_NOFILE for the scope.
class DescriptorLimit {
 public:
  explicit DescriptorLimit(rlim_t soft) {
    getrlimit(RLIMIT_NOFILE, &saved_);
    rlimit lowered = saved_;
    lowered.rlim_cur = soft;
    REQUIRE(setrlimit(RLIMIT_NOFILE, &lowered) == 0);
  }
  ~DescriptorLimit() { restore(); }
  void restore() { setrlimit(RLIMIT_NOFILE, &saved_); }

 private:
  rlimit saved_{};
};

/// When the transport logged "accept failed" (both backends log each
/// accept() failure at warning level, the default), so that a test waits on
/// the failures themselves instead of polling counters. The sink may only be
/// replaced while no transport runs: make this before the transport and let
/// it go after (it restores a sink like the default, to stderr).
class AcceptFailureLog {
 public:
  using Times = std::vector<std::chrono::steady_clock::time_point>;
  AcceptFailureLog() {
    setLogSink([times = times_](LogLevel level, std::string_view line) {
      if (line.find("accept failed") != std::string_view::npos) {
        times->update([](Times& t) { t.push_back(std::chrono::steady_clock::now()); });
      }
      writeToStderr(level, line);
    });
  }
  ~AcceptFailureLog() { setLogSink(&writeToStderr); }
  AcceptFailureLog(const AcceptFailureLog&) = delete;
  AcceptFailureLog& operator=(const AcceptFailureLog&) = delete;

  Watched<Times>& times() { return *times_; }

 private:
  static void writeToStderr(LogLevel level, std::string_view line) {
    static constexpr const char* kNames[] = {"debug", "info", "warning", "error"};
    std::fprintf(stderr, "spool %s: %.*s\n", kNames[static_cast<int>(level)],
                 static_cast<int>(line.size()), line.data());
  }

  std::shared_ptr<Watched<Times>> times_ = std::make_shared<Watched<Times>>();
};

/// Accepts lines "HELLO\n"; anything else is a malformed frame that closes
/// this connection (with a reason) and nobody else's.
class LineProtocol final : public ConnectionHandler {
 public:
  explicit LineProtocol(RecordingPtr record) : record_(std::move(record)) {}
  void onData(Connection& conn, InputBuffer& input) override {
    while (auto newline = input.find("\n", input.size())) {
      const std::string line(input.text(*newline + 1));
      input.consume(*newline + 1);
      if (line != "HELLO\n") {
        conn.close(CloseMode::kAbort, "malformed frame");
        return;
      }
      (void)conn.send(std::string_view("WORLD\n"));
    }
    record_->update([&](Recording& r) { r.data = std::to_string(input.size()); });
  }
  void onClose(Connection&, const CloseReason& reason) override { recordClose(*record_, reason); }

 private:
  RecordingPtr record_;
};

}  // namespace

TEST_CASE("out of descriptors at accept: back off, never spin, recover", "[conformance][faults]") {
  constexpr int kClients = 6;
  // Accept failures must be paced by a back-off: libevent's listener pauses
  // 100 ms after each, folly's AsyncServerSocket 1 s. A loop that retried at
  // once would fail thousands of times within that.
  constexpr auto kMinBackoff = std::chrono::milliseconds(100);
  constexpr std::size_t kFailures = 4;
  AcceptFailureLog failures;  // outlives the transport below
  RunningTransport server(1);
  auto listener = server->listen(ListenOptions{}, [] { return std::make_unique<EchoHandler>(); });
  // Client sockets are made before the limit drops (connect needs no new
  // descriptor); the limit then leaves room for exactly two accepts.
  std::vector<int> sockets;
  for (int i = 0; i < kClients; ++i) {
    sockets.push_back(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  }
  // While the limit is low, no assertion runs: the sanitizers' runtime may
  // need a descriptor to report one. Values are checked after restore().
  DescriptorLimit limit(static_cast<rlim_t>(openDescriptors() + 2));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(listener->port());
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int connected = 0;
  for (int fd : sockets) {
    connected += ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 ? 1 : 0;
  }
  // The kernel completed every handshake; the server can accept only two,
  // and fails on the others until descriptors are back.
  const bool failed = failures.times().waitUntil(
      [](const AcceptFailureLog::Times& t) { return t.size() >= kFailures; });
  const AcceptFailureLog::Times times = failures.times().get();
  limit.restore();
  REQUIRE(connected == kClients);
  REQUIRE(failed);
  // Each retry waits for the back-off timer, which never fires early, so
  // kFailures failures span at least (kFailures - 1) back-offs; the bound
  // below leaves two of them for a loop thread preempted mid-callback (its
  // timer counts from the loop's cached clock). Delays only lengthen it.
  const auto span = times[kFailures - 1] - times[0];
  INFO("accept failures " << times.size() << "; the first " << kFailures << " span "
                          << std::chrono::duration_cast<std::chrono::microseconds>(span).count()
                          << " us");
  CHECK(span >= kMinBackoff);
  CHECK(total(server->stats()).accept_errors >= kFailures);
  // Every client is served once descriptors are available again.
  for (int fd : sockets) {
    REQUIRE(::send(fd, "ping", 4, MSG_NOSIGNAL) == 4);
    char reply[4];
    REQUIRE(::recv(fd, reply, 4, MSG_WAITALL) == 4);
    CHECK(std::string_view(reply, 4) == "ping");
    ::close(fd);
  }
}

TEST_CASE("a peer that connects and sends nothing is closed by the idle timeout",
          "[conformance][faults][timeout]") {
  RunningTransport server(1);
  auto record = std::make_shared<Watched<Recording>>();
  ListenOptions options;
  options.connection.idle_timeout = std::chrono::milliseconds(150);
  auto listener = server->listen(options, [record] { return std::make_unique<RecordingHandler>(record); });
  RawClient silent("127.0.0.1", listener->port());
  REQUIRE(record->waitUntil([](const Recording& r) { return r.closed; }));
  CHECK(record->get().reason.code == CloseCode::kIdleTimeout);
  CHECK(record->get().reason.describe().starts_with("idle timeout"));
  CHECK(silent.receiveUntilEof().empty());  // a clean close, not a reset
}

TEST_CASE("garbage closes only the connection that sent it, with a reason",
          "[conformance][faults]") {
  RunningTransport server(2);
  std::vector<RecordingPtr> records;
  std::mutex records_mutex;
  auto listener = server->listen(ListenOptions{}, [&] {
    auto record = std::make_shared<Watched<Recording>>();
    std::lock_guard lock(records_mutex);
    records.push_back(record);
    return std::make_unique<LineProtocol>(record);
  });
  RawClient good("127.0.0.1", listener->port());
  RawClient bad("127.0.0.1", listener->port());
  good.sendAll("HELLO\n");
  CHECK(good.receive(6) == "WORLD\n");
  bad.sendAll(patternBytes(4096, 3) + "\n");
  CHECK(bad.receiveUntilEof().empty());
  good.sendAll("HELLO\n");
  CHECK(good.receive(6) == "WORLD\n");
  std::lock_guard lock(records_mutex);
  int closed = 0;
  for (auto& record : records) {
    if (record->get().closed) {
      ++closed;
      CHECK(record->get().reason.code == CloseCode::kLocalAbort);
      CHECK(record->get().reason.describe() == "aborted locally: malformed frame");
    }
  }
  CHECK(closed == 1);
}

TEST_CASE("a flood without a frame boundary is bounded by max_input_bytes", "[conformance][faults]") {
  RunningTransport server(1);
  auto accepted = std::make_shared<Watched<AcceptLog>>();
  auto record = std::make_shared<Watched<Recording>>();
  ListenOptions options;
  options.connection.max_input_bytes = 256 << 10;
  auto listener = server->listen(options, [record] { return std::make_unique<LineProtocol>(record); });
  RawClient flood("127.0.0.1", listener->port());
  // Push 16 MiB without a newline, without blocking: the server stops
  // reading at its bound, the kernel buffers fill, and sends stop.
  const std::string chunk(64 << 10, 'g');
  std::uint64_t pushed = 0;
  for (int i = 0; i < 256; ++i) {
    const ssize_t n = ::send(flood.fd(), chunk.data(), chunk.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n <= 0) {
      break;
    }
    pushed += static_cast<std::uint64_t>(n);
  }
  // The handler saw at most the bound plus one read's worth.
  REQUIRE(record->waitUntil([](const Recording& r) { return !r.data.empty(); }));
  const auto buffered = std::stoull(record->get().data);
  INFO("pushed " << pushed << " bytes; the handler saw " << buffered << " buffered");
  CHECK(buffered <= (256u << 10) + (64u << 10));
  CHECK(pushed < (16u << 20));
  CHECK(total(server->stats()).bytes_in <= (256u << 10) + (64u << 10));
}

TEST_CASE("beyond max_connections a connection is told and closed; the others carry on",
          "[conformance][faults]") {
  TransportOptions transport_options;
  transport_options.max_connections = 3;
  RunningTransport server(2, transport_options);
  auto closes = std::make_shared<Watched<int>>(0);
  ListenOptions options;
  options.reject_message = "ERROR Too many open connections\r\n";
  auto listener = server->listen(options, [] { return std::make_unique<EchoHandler>(); });
  std::vector<std::unique_ptr<RawClient>> clients;
  for (int i = 0; i < 3; ++i) {
    clients.push_back(std::make_unique<RawClient>("127.0.0.1", listener->port()));
    clients.back()->sendAll("hi");
    REQUIRE(clients.back()->receive(2) == "hi");  // accepted and served
  }
  RawClient extra("127.0.0.1", listener->port());
  CHECK(extra.receiveUntilEof() == "ERROR Too many open connections\r\n");
  CHECK(total(server->stats()).connections_rejected == 1);
  for (auto& client : clients) {
    client->sendAll("still");
    CHECK(client->receive(5) == "still");
  }
  // A slot frees when a connection closes.
  clients[0]->close();
  const auto deadline = std::chrono::steady_clock::now() + kWaitLimit;
  std::string reply;
  while (reply != "again" && std::chrono::steady_clock::now() < deadline) {
    RawClient next("127.0.0.1", listener->port());
    next.sendAll("again");
    reply = next.receive(5, std::chrono::milliseconds(500));
  }
  CHECK(reply == "again");
}

TEST_CASE("writing to a reset peer raises no SIGPIPE", "[conformance][faults]") {
  struct sigaction current{};
  sigaction(SIGPIPE, nullptr, &current);
  REQUIRE(current.sa_handler == SIG_DFL);  // so a SIGPIPE would kill this test
  RunningTransport server(1);
  auto accepted = std::make_shared<Watched<AcceptLog>>();
  auto listener = server->listen(ListenOptions{}, [accepted] { return std::make_unique<TargetHandler>(accepted); });
  auto victim = std::make_unique<RawClient>("127.0.0.1", listener->port());
  REQUIRE(accepted->waitUntil([](const AcceptLog& l) { return l.connections.size() == 1; }));
  const AcceptLog target = accepted->get();
  victim->reset();
  // Keep writing into the reset connection until the transport notices.
  SendResult result = SendResult::kOk;
  for (int i = 0; i < 100'000 && result == SendResult::kOk; ++i) {
    result = sendBlocking(*target.connections[0], Buffer::copyOf(std::string(4096, 'p')),
                          target.recordings[0]);
  }
  CHECK(result == SendResult::kClosed);
  REQUIRE(target.recordings[0]->waitUntil([](const Recording& r) { return r.closed; }));
  const auto reason = target.recordings[0]->get().reason;
  INFO(reason.describe());
  CHECK((reason.code == CloseCode::kIoError || reason.code == CloseCode::kPeerClosed));
}

TEST_CASE("a transport whose loops cannot get descriptors fails with SetupError", "[faults]") {
  // Each loop needs a doorbell and a poller: with the descriptor limit just
  // above what is open now, creating 16 loops must fail, as an error the
  // caller can handle (never an abort).
  rlimit saved{};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &saved) == 0);
  int highest = 0;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    highest = std::max(highest, std::stoi(entry.path().filename().string()));
  }
  rlimit tight = saved;
  tight.rlim_cur = static_cast<rlim_t>(highest) + 8;
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &tight) == 0);
  // Take every free descriptor under the limit, then give three back: too
  // few for 16 loops, enough for one.
  std::vector<int> hoard;
  for (int fd = ::dup(0); fd >= 0; fd = ::dup(0)) {
    hoard.push_back(fd);
  }
  for (int i = 0; i < 3 && !hoard.empty(); ++i) {
    ::close(hoard.back());
    hoard.pop_back();
  }
  std::string error;
  try {
    TransportOptions options;
    options.loops = 16;
    auto transport = Transport::create(options);
  } catch (const SetupError& e) {
    error = e.what();
  }
  for (const int fd : hoard) {
    ::close(fd);
  }
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &saved) == 0);
  INFO(error);
  CHECK_FALSE(error.empty());
  // With descriptors back, the same call works.
  TransportOptions options;
  options.loops = 16;
  CHECK_NOTHROW(Transport::create(options));
}
