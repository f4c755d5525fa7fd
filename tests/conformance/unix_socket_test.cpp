// Listening on a Unix domain socket: echo through every loop, the send
// budget, the socket file's mode and owner, a stale file replaced, a live one refused,
// and the file removed when the listener closes.
#include <catch2/catch.hpp>

#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "spool/errors.h"
#include "test_support.h"

using namespace spool;
using namespace spool::test;

namespace {

ListenOptions unixOptions(const std::string& path) {
  ListenOptions options;
  options.unix_path = path;
  return options;
}

bool fileExists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

/// The permission bits of `path`'s file.
unsigned fileMode(const std::string& path) {
  struct stat st {};
  REQUIRE(::lstat(path.c_str(), &st) == 0);
  CHECK(S_ISSOCK(st.st_mode));
  return st.st_mode & 07777;
}

/// Leaves a socket file at `path` with nobody listening: what a server that
/// crashed leaves behind.
void leaveStaleSocket(const std::string& path) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path, path.data(), path.size());
  REQUIRE(::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) == 0);
  ::close(fd);
  REQUIRE(fileExists(path));
}

/// Echoes, and publishes the peer address it was accepted with.
class PeerEcho final : public EchoHandler {
 public:
  explicit PeerEcho(std::shared_ptr<Watched<std::vector<std::string>>> peers)
      : peers_(std::move(peers)) {}
  void onOpen(Connection& conn) override {
    peers_->update([&](std::vector<std::string>& p) { p.push_back(conn.peerAddress()); });
  }

 private:
  std::shared_ptr<Watched<std::vector<std::string>>> peers_;
};

void requireEcho(const std::string& path, const std::string& text) {
  RawClient client(UnixSocketPath{path});
  client.sendAll(text);
  CHECK(client.receive(text.size()) == text);
}

}  // namespace

TEST_CASE("a Unix socket listener echoes on every loop, port 0", "[conformance][unix]") {
  TempDir dir;
  const std::string path = dir.file("echo.sock");
  RunningTransport transport(2);
  auto peers = std::make_shared<Watched<std::vector<std::string>>>();
  auto listener =
      transport->listen(unixOptions(path), [peers] { return std::make_unique<PeerEcho>(peers); });
  CHECK(listener->port() == 0);
  constexpr int kClients = 8;  // the loops share one socket: each must get its share served
  for (int i = 0; i < kClients; ++i) {
    requireEcho(path, "hello " + std::to_string(i));
  }
  REQUIRE(peers->waitUntil([](const auto& p) { return p.size() == kClients; }));
  for (const auto& peer : peers->get()) {
    CHECK(peer == "unix:" + path);
  }
  CHECK(total(transport->stats()).connections_total == kClients);
}

TEST_CASE("a Unix socket connection pushes back on a client that does not read",
          "[conformance][unix]") {
  TempDir dir;
  const std::string path = dir.file("flow.sock");
  RunningTransport transport(2);
  auto log = std::make_shared<Watched<AcceptLog>>();
  ListenOptions options = unixOptions(path);
  options.connection.send_high_watermark = 256 << 10;
  options.connection.send_low_watermark = 64 << 10;
  auto listener =
      transport->listen(options, [log] { return std::make_unique<TargetHandler>(log); });
  RawClient client(UnixSocketPath{path});
  REQUIRE(log->waitUntil([](const AcceptLog& l) { return l.connections.size() == 1; }));
  const ConnectionPtr conn = log->get().connections[0];
  const RecordingPtr record = log->get().recordings[0];
  const std::string chunk = patternBytes(64 << 10, 7);
  std::string sent;
  SendResult result = SendResult::kOk;
  // The kernel buffers of a Unix socket pair are a few hundred KiB at most:
  // 1,000 chunks (64 MiB) cannot all be accepted while nobody reads.
  for (int i = 0; i < 1000 && result == SendResult::kOk; ++i) {
    result = conn->send(std::string_view(chunk));
    if (result == SendResult::kOk) {
      sent += chunk;
    }
  }
  REQUIRE(result == SendResult::kBackpressure);
  CHECK(client.receive(sent.size()) == sent);
  REQUIRE(record->waitUntil([](const Recording& r) { return r.writable_calls > 0; }));
  CHECK(conn->send(std::string_view("after")) == SendResult::kOk);
  CHECK(client.receive(5) == "after");
}

TEST_CASE("a Unix socket file gets the mode asked for", "[conformance][unix]") {
  TempDir dir;
  RunningTransport transport(1);
  const auto factory = [] { return std::make_unique<EchoHandler>(); };
  auto by_default = transport->listen(unixOptions(dir.file("default.sock")), factory);
  CHECK(fileMode(dir.file("default.sock")) == 0700);
  ListenOptions options = unixOptions(dir.file("open.sock"));
  options.unix_mode = 0766;
  auto open = transport->listen(options, factory);
  CHECK(fileMode(dir.file("open.sock")) == 0766);
  requireEcho(dir.file("open.sock"), "ping");
}

TEST_CASE("a Unix socket file gets the owner asked for before it listens",
          "[conformance][unix][root]") {
  if (!requireRoot("only root may give a file to another user")) {
    return;
  }
  const passwd* nobody = ::getpwnam("nobody");
  REQUIRE(nobody != nullptr);
  TempDir dir;
  const std::string path = dir.file("owned.sock");
  RunningTransport transport(1);
  ListenOptions options = unixOptions(path);
  options.unix_uid = nobody->pw_uid;
  options.unix_gid = nobody->pw_gid;
  options.unix_mode = 0750;
  auto listener = transport->listen(options, [] { return std::make_unique<EchoHandler>(); });
  struct stat st {};
  REQUIRE(::lstat(path.c_str(), &st) == 0);
  CHECK(st.st_uid == nobody->pw_uid);
  CHECK(st.st_gid == nobody->pw_gid);
  CHECK(fileMode(path) == 0750);  // the mode survives the change of owner
  requireEcho(path, "owned");
  listener->close();
  CHECK_FALSE(fileExists(path));
}

TEST_CASE("a stale Unix socket file is replaced", "[conformance][unix]") {
  TempDir dir;
  const std::string path = dir.file("stale.sock");
  leaveStaleSocket(path);
  RunningTransport transport(2);
  auto listener =
      transport->listen(unixOptions(path), [] { return std::make_unique<EchoHandler>(); });
  requireEcho(path, "fresh");
}

TEST_CASE("a Unix socket path a live listener holds is refused", "[conformance][unix]") {
  TempDir dir;
  const std::string path = dir.file("live.sock");
  RunningTransport first(2);
  RunningTransport second(1);
  const auto factory = [] { return std::make_unique<EchoHandler>(); };
  auto listener = first->listen(unixOptions(path), factory);
  CHECK_THROWS_AS(second->listen(unixOptions(path), factory), AddressInUseError);
  CHECK_THROWS_AS(first->listen(unixOptions(path), factory), AddressInUseError);
  requireEcho(path, "still mine");  // the refused attempts took nothing away

  ListenOptions not_a_socket = unixOptions(dir.file("plain-file"));
  {
    std::FILE* f = std::fopen(not_a_socket.unix_path.c_str(), "w");
    REQUIRE(f != nullptr);
    std::fclose(f);
  }
  CHECK_THROWS_AS(second->listen(not_a_socket, factory), SetupError);
  CHECK(fileExists(not_a_socket.unix_path));  // never removed: it is not a socket
}

TEST_CASE("a Unix socket listener removes its file when it closes", "[conformance][unix]") {
  TempDir dir;
  RunningTransport transport(2);
  const auto factory = [] { return std::make_unique<EchoHandler>(); };
  const std::string closed = dir.file("closed.sock");
  auto listener = transport->listen(unixOptions(closed), factory);
  RawClient client(UnixSocketPath{closed});
  listener->close();
  CHECK_FALSE(fileExists(closed));
  client.sendAll("open");  // established connections stay
  CHECK(client.receive(4) == "open");

  const std::string dropped = dir.file("dropped.sock");
  transport->listen(unixOptions(dropped), factory).reset();
  CHECK_FALSE(fileExists(dropped));

  // A file someone else put there after us is not ours to remove.
  const std::string taken = dir.file("taken.sock");
  auto first = transport->listen(unixOptions(taken), factory);
  REQUIRE(::unlink(taken.c_str()) == 0);
  leaveStaleSocket(taken);
  first->close();
  CHECK(fileExists(taken));
}
