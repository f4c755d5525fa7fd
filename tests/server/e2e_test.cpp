// spoold end to end over loopback TCP, in both execution modes.
#include <catch2/catch.hpp>

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <numeric>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "binary_codec.h"
#include "server_test_support.h"
#include "test_pki.h"
#include "test_support.h"

namespace spoold::test {
namespace {

ExecMode modeUnderTest() {
  return GENERATE(ExecMode::kInline, ExecMode::kWorkers);
}

const char* name(ExecMode mode) { return mode == ExecMode::kInline ? "inline" : "workers"; }

std::uint64_t statNumber(std::uint16_t port, std::string_view stat) {
  const std::string value = statValue(port, stat);
  return value.empty() ? 0 : std::stoull(value);
}

/// Asks for `stat` until it exceeds `floor` (each ask is a round trip, so
/// this paces itself), up to kTimeout.
std::uint64_t waitForStatAbove(std::uint16_t port, std::string_view stat, std::uint64_t floor) {
  const auto deadline = std::chrono::steady_clock::now() + kTimeout;
  RawClient client(port);
  std::uint64_t value = floor;
  while (value <= floor && std::chrono::steady_clock::now() < deadline) {
    const std::string stats = client.roundTrip("stats\r\n", "END\r\n");
    const std::string key = "STAT " + std::string(stat) + " ";
    const std::size_t at = stats.find(key);
    REQUIRE(at != std::string::npos);
    value = std::stoull(stats.substr(at + key.size()));
  }
  return value;
}

std::string setCommand(const std::string& key, const std::string& value, bool noreply = false) {
  return "set " + key + " 0 0 " + std::to_string(value.size()) + (noreply ? " noreply" : "") + "\r\n" +
         value + "\r\n";
}

std::string valueReply(const std::string& key, const std::string& value) {
  return "VALUE " + key + " 0 " + std::to_string(value.size()) + "\r\n" + value + "\r\nEND\r\n";
}

/// Times the server stopped reading a connection: its send budget full
/// (spool_read_pauses_backlog) or its queued input at the limit
/// (spoold_queued_input_pauses).
std::uint64_t readPauses(std::uint16_t port) {
  return statNumber(port, "spool_read_pauses_backlog") + statNumber(port, "spoold_queued_input_pauses");
}

/// Sends `bytes` over and over (up to `total` bytes; once by default) for as
/// long as the server takes them, until it has stopped reading for good:
/// the kernel refuses more (EAGAIN) after the server said it paused reading
/// (readPauses). Event-driven: it waits on the socket becoming writable and
/// re-reads the stats, never on a guess of how long a stall lasts.
/// @return the bytes sent (`total` when the server never stops reading).
std::size_t sendUntilServerStopsReading(std::uint16_t port, int fd, std::string_view bytes, std::size_t total = 0) {
  total = total == 0 ? bytes.size() : total;
  std::size_t sent = 0;
  const auto deadline = std::chrono::steady_clock::now() + kTimeout;
  while (sent < total && std::chrono::steady_clock::now() < deadline) {
    const std::size_t at = sent % bytes.size();
    const std::size_t want = std::min(bytes.size() - at, total - sent);
    const ssize_t n = ::send(fd, bytes.data() + at, want, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      sent += static_cast<std::size_t>(n);
      continue;
    }
    if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
      break;
    }
    if (readPauses(port) > 0) {
      pollfd p{fd, POLLOUT, 0};
      if (::poll(&p, 1, 0) == 0) {
        break;  // buffers full after the server paused: it reads nothing more
      }
      continue;
    }
    pollfd p{fd, POLLOUT, 0};
    (void)::poll(&p, 1, 100);  // writable again, or time to re-read the stats
  }
  return sent;
}

/// Sends the rest of `bytes` while reading, until what was read ends with
/// `suffix` (or kTimeout). @return what was read.
std::string pump(int fd, std::string_view bytes, std::string_view suffix) {
  std::string received;
  const auto deadline = std::chrono::steady_clock::now() + kTimeout;
  char buf[65536];
  while (!received.ends_with(suffix) && std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, static_cast<short>(POLLIN | (bytes.empty() ? 0 : POLLOUT)), 0};
    if (::poll(&p, 1, 100) <= 0) {
      continue;
    }
    if ((p.revents & POLLOUT) != 0) {
      const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) {
        bytes.remove_prefix(static_cast<std::size_t>(n));
      }
    }
    if ((p.revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
      const ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
      if (n == 0) {
        break;
      }
      if (n > 0) {
        received.append(buf, static_cast<std::size_t>(n));
      }
    }
  }
  return received;
}

/// Fills the store with keys whose metadump lines take ~9 MiB ('%' is
/// percent-encoded, tripling each key): more than the send budget plus
/// whatever the kernel buffers absorb.
void fillForMetadump(RawClient& client, int items) {
  std::string sets;
  for (int i = 0; i < items; ++i) {
    sets += setCommand(std::string(240, '%') + std::to_string(i), "v", true);
  }
  client.send(sets);
  REQUIRE(client.roundTrip("mn\r\n") == "MN\r\n");
}

/// Fills the store (fillForMetadump), sends `lru_crawler metadump all` and
/// then `after`, and waits until the dump has run into the send budget of
/// `client`, which reads nothing.
void startStalledMetadump(std::uint16_t port, RawClient& client, int items, std::string_view after) {
  fillForMetadump(client, items);
  const std::uint64_t refusals_before = statNumber(port, "spool_backpressure_refusals");
  client.send("lru_crawler metadump all\r\n" + std::string(after));
  CHECK(waitForStatAbove(port, "spool_backpressure_refusals", refusals_before) > refusals_before);
}

}  // namespace

TEST_CASE("pipelined requests are answered in order", "[e2e]") {
  const ExecMode mode = modeUnderTest();
  INFO("exec=" << name(mode));
  TestServer server(mode, TestServer::defaults(mode));
  RawClient client(server.port());
  std::string request;
  std::string expected;
  for (int i = 0; i < 500; ++i) {
    const std::string key = "k" + std::to_string(i % 50);
    const std::string value = "v" + std::to_string(i);
    request += setCommand(key, value) + "get " + key + "\r\n";
    expected += "STORED\r\n" + valueReply(key, value);
  }
  client.send(request);
  CHECK(client.read(expected.size()) == expected);
}

TEST_CASE("commands split into one-byte segments", "[e2e]") {
  const ExecMode mode = modeUnderTest();
  INFO("exec=" << name(mode));
  TestServer server(mode, TestServer::defaults(mode));
  const std::string script = setCommand("seg", "segmented value") + "get seg\r\nincr nope 1\r\nmn\r\n";
  const std::string expected = "STORED\r\n" + valueReply("seg", "segmented value") + "NOT_FOUND\r\nMN\r\n";
  RawClient client(server.port());
  client.sendInPieces(script, 1);
  CHECK(client.read(expected.size()) == expected);
}

TEST_CASE("large values round-trip intact", "[e2e]") {
  const ExecMode mode = modeUnderTest();
  INFO("exec=" << name(mode));
  TestServer server(mode, TestServer::defaults(mode));
  RawClient client(server.port());
  std::string value(900 * 1024, '\0');
  for (std::size_t i = 0; i < value.size(); ++i) {
    value[i] = static_cast<char>('a' + (i * 7919) % 26);
  }
  client.sendInPieces(setCommand("big", value), 60000);
  CHECK(client.readUntil("\r\n") == "STORED\r\n");
  const std::string reply = client.roundTrip("get big\r\n", "END\r\n");
  CHECK(reply == valueReply("big", value));
}

TEST_CASE("bad input gets memcached's errors and only its connection is closed", "[e2e]") {
  const ExecMode mode = modeUnderTest();
  INFO("exec=" << name(mode));
  TestServer server(mode, TestServer::defaults(mode));
  RawClient bystander(server.port());
  CHECK(bystander.roundTrip("set keep 0 0 1\r\nk\r\n") == "STORED\r\n");

  SECTION("errors that keep the connection") {
    RawClient client(server.port());
    CHECK(client.roundTrip("get " + std::string(251, 'k') + "\r\n") == "CLIENT_ERROR bad command line format\r\n");
    CHECK(client.roundTrip("set a 0 0 -5\r\n") == "CLIENT_ERROR bad command line format\r\n");
    CHECK(client.roundTrip("set a 0 0 xx\r\n") == "CLIENT_ERROR bad command line format\r\n");
    CHECK(client.roundTrip("set a 0 0 2\r\nabcd\r\n", "ERROR\r\n") == "CLIENT_ERROR bad data chunk\r\nERROR\r\n");
    const std::string big(1100 * 1024, 'x');
    CHECK(client.roundTrip(setCommand("huge", big)) == "SERVER_ERROR object too large for cache\r\n");
    CHECK(client.roundTrip("version\r\n").starts_with("VERSION "));
  }
  SECTION("a meta error consumes its line and nothing of the next") {
    RawClient client(server.port());
    std::string flags;
    for (int i = 1; i <= 25; ++i) {
      flags += " " + std::to_string(i);
    }
    CHECK(client.roundTrip("ms ri" + flags + "\r\nmn\r\nmn\r\n", "MN\r\nMN\r\n") ==
          "CLIENT_ERROR options flags too long\r\nMN\r\nMN\r\n");
    CHECK(client.roundTrip("ms ri 2 Mx\r\nmn\r\nmn\r\n", "MN\r\n") ==
          "CLIENT_ERROR invalid mode for ms M token\r\nMN\r\n");  // the value "mn" is skipped
  }
  SECTION("a 1 MiB line without a newline") {
    RawClient client(server.port());
    client.send(std::string(1u << 20, 'x'));
    client.readToEof();
    CHECK(client.closed());
  }
  SECTION("a binary packet with a bad magic byte") {
    RawClient client(server.port());
    std::string noop(24, '\0');
    noop[0] = static_cast<char>(binary::kRequestMagic);
    noop[1] = static_cast<char>(binary::kNoop);
    std::string bad = noop;
    bad[0] = 0x42;
    client.send(noop + bad + noop);  // the first byte chose binary; then a bad magic
    const std::string reply = client.readToEof();
    CHECK(client.closed());
    CHECK(reply.size() == 24);  // the first NOOP's response only
  }
  SECTION("a binary packet with an absurd body length") {
    RawClient client(server.port());
    std::string packet(24, '\0');
    packet[0] = static_cast<char>(binary::kRequestMagic);
    packet[1] = static_cast<char>(binary::kSet);
    packet[4] = 8;
    binary::writeU32(0x7ffffff0u, packet.data() + 8);
    client.send(packet);
    const std::string reply = client.readToEof();
    CHECK(client.closed());
    CHECK(reply.ends_with("Invalid arguments"));
  }
  CHECK(bystander.roundTrip("get keep\r\n", "END\r\n") == valueReply("keep", "k"));
}

TEST_CASE("a client that does not read is held back by the send budget", "[e2e][backpressure]") {
  const ExecMode mode = modeUnderTest();
  INFO("exec=" << name(mode));
  TestServer server(mode, TestServer::defaults(mode));
  RawClient client(server.port(), "127.0.0.1", 4096);
  const std::string value(512 * 1024, 'b');
  CHECK(client.roundTrip(setCommand("bp", value)) == "STORED\r\n");
  constexpr int kGets = 16;  // 8 MiB of responses, far past the 1 MiB budget
  std::string request;
  for (int i = 0; i < kGets; ++i) {
    request += "get bp\r\n";
  }
  client.send(request);
  // Nothing read yet: the server must be refusing sends rather than queueing 8 MiB.
  CHECK(waitForStatAbove(server.port(), "spool_backpressure_refusals", 0) > 0);
  const std::string one = valueReply("bp", value);
  const std::string all = client.read(one.size() * kGets);
  REQUIRE(all.size() == one.size() * kGets);
  for (int i = 0; i < kGets; ++i) {
    CHECK(all.compare(one.size() * static_cast<std::size_t>(i), one.size(), one) == 0);
  }
}

TEST_CASE("a client that pipelines without reading cannot make the server take its input",
          "[e2e][backpressure][read-pause]") {
  const ExecMode mode = modeUnderTest();
  INFO("exec=" << name(mode));
  TestServer server(mode, TestServer::defaults(mode));
  RawClient bystander(server.port());
  RawClient client(server.port(), "127.0.0.1", 4096);
  std::string block;
  for (int i = 0; i < 4096; ++i) {
    block += "set small 0 0 10\r\n0123456789\r\n";
  }
  // The kernel takes about 4 MiB of replies (16 MiB of these sets), then the
  // send budget and the queued-input bound hold a few MiB more: a server
  // that takes 256 MiB from this client reads on whatever it owes.
  constexpr std::size_t kAttempt = 256u << 20;
  const std::size_t sent = sendUntilServerStopsReading(server.port(), client.fd(), block, kAttempt);
  const std::uint64_t bytes_read = statNumber(server.port(), "bytes_read");
  CHECK(sent < kAttempt);
  CHECK(bytes_read <= 48u << 20);
  CHECK(statNumber(server.port(), "spoold_queued_input_peak") <= TestServer::defaults(mode).queued_input_limit + (64u << 10));
  // Everyone else is served meanwhile.
  CHECK(bystander.roundTrip("get small\r\n", "END\r\n") == valueReply("small", "0123456789"));
}

TEST_CASE("lru_crawler metadump streams from the background thread at the reader's pace", "[e2e][metadump]") {
  const ExecMode mode = modeUnderTest();
  INFO("exec=" << name(mode));
  TestServer server(mode, TestServer::defaults(mode));
  RawClient client(server.port(), "127.0.0.1", 4096);
  constexpr int kItems = 12000;
  // Let the dump run into the budget before reading anything.
  startStalledMetadump(server.port(), client, kItems, "version\r\n");
  {
    // The crawler is held back by our reader; a second dump must wait its turn.
    RawClient other(server.port());
    other.send("lru_crawler metadump all\r\nversion\r\n");
    const std::string reply = other.readUntilContains("VERSION ", "\r\n");
    CHECK(reply.starts_with("BUSY currently processing crawler request\r\nVERSION "));
  }
  const std::string rest = client.readUntilContains("END\r\nVERSION ", "\r\n");
  const std::size_t end = rest.find("END\r\n");
  std::size_t lines = 0;
  for (std::size_t at = rest.find("key="); at < end; at = rest.find("\nkey=", at + 1)) {
    ++lines;
  }
  CHECK(lines == kItems);
  CHECK(rest.find("exp=-1 la=") != std::string::npos);
  CHECK(rest.substr(end + 5).starts_with("VERSION "));
}

TEST_CASE("input queued behind a slow runner is bounded: the loop stops reading", "[e2e][backpressure][metadump]") {
  // A metadump held back by a client that does not read keeps the runner
  // busy; the client goes on pipelining 32 MiB of commands. The server must
  // stop reading at its queued-input limit rather than queue them all, then
  // resume (from the runner's thread, through Connection::runInLoop) and
  // answer every one once the client reads.
  const ExecMode mode = modeUnderTest();
  INFO("exec=" << name(mode));
  Settings settings = TestServer::defaults(mode);
  settings.queued_input_limit = 1u << 20;
  TestServer server(mode, settings);
  RawClient client(server.port(), "127.0.0.1", 4096);
  constexpr int kItems = 12000;
  startStalledMetadump(server.port(), client, kItems, "");

  constexpr int kSets = 32 * 1024;
  const std::string value(1000, 'q');
  std::string commands;
  commands.reserve(kSets * (value.size() + 32));
  for (int i = 0; i < kSets; ++i) {
    commands += setCommand("q" + std::to_string(i % 64), value, true);
  }
  commands += "mn\r\n";
  const std::size_t sent = sendUntilServerStopsReading(server.port(), client.fd(), commands);
  INFO("sent before the server stopped reading: " << sent);
  CHECK(sent < commands.size());
  const std::uint64_t peak = statNumber(server.port(), "spoold_queued_input_peak");
  INFO("queued input peak: " << peak);
  // Whichever stopped the reads first (the dump fills the send budget, the
  // queue reaches its limit), one read's worth past the limit at most (a
  // read callback takes <= 64 KiB).
  CHECK(readPauses(server.port()) > 0);
  CHECK(peak <= settings.queued_input_limit + (64u << 10));

  const std::string received = pump(client.fd(), std::string_view(commands).substr(sent), "END\r\nMN\r\n");
  INFO("received " << received.size() << " bytes, ending " << received.substr(received.size() - std::min<std::size_t>(received.size(), 200)));
  REQUIRE(received.ends_with("END\r\nMN\r\n"));
  std::size_t lines = 0;
  for (std::size_t at = received.find("key="); at != std::string::npos; at = received.find("\nkey=", at + 1)) {
    ++lines;
  }
  CHECK(lines == kItems);
  CHECK(client.roundTrip("get q5\r\n", "END\r\n") == valueReply("q5", value));
}

TEST_CASE("the connection limit refuses like memcached", "[e2e]") {
  const ExecMode mode = modeUnderTest();
  Settings settings = TestServer::defaults(mode);
  settings.max_connections = 2;
  TestServer server(mode, settings);
  RawClient first(server.port());
  RawClient second(server.port());
  CHECK(first.roundTrip("version\r\n").starts_with("VERSION"));
  CHECK(second.roundTrip("version\r\n").starts_with("VERSION"));
  RawClient third(server.port());
  CHECK(third.readToEof() == "ERROR Too many open connections\r\n");
  const std::string stats = first.roundTrip("stats\r\n", "END\r\n");
  CHECK(stats.find("STAT rejected_connections 1\r\n") != std::string::npos);
  CHECK(stats.find("STAT curr_connections 2\r\n") != std::string::npos);
}

namespace {

/// A spool TLS client (trusting the test CA) connected to spoold; fails the
/// test unless the handshake completes.
spool::ConnectionPtr connectTlsClient(spool::Transport& transport, std::uint16_t port,
                                     const std::shared_ptr<spool::test::Watched<spool::test::Recording>>& record) {
  spool::ConnectOptions connect;
  connect.port = port;
  connect.tls = spool::test::clientTls();
  auto conn = transport.connect(connect, std::make_unique<spool::test::RecordingHandler>(record));
  REQUIRE(record->waitUntil([](const auto& r) { return r.opened || r.closed; }));
  REQUIRE(record->get().opened);
  return conn;
}

}  // namespace

TEST_CASE("TLS (-Z) serves memcached commands over spool's TLS listener", "[e2e][tls]") {
  const ExecMode mode = modeUnderTest();
  INFO("exec=" << name(mode));
  const spool::test::TestPki& pki = spool::test::TestPki::get();
  Settings settings = TestServer::defaults(mode);
  settings.tls = true;
  settings.ssl_chain_cert = pki.server_cert;
  settings.ssl_key = pki.server_key;
  TestServer server(mode, settings);

  spool::test::RunningTransport client_side(1);
  auto record = std::make_shared<spool::test::Watched<spool::test::Recording>>();
  auto conn = connectTlsClient(*client_side, server.port(), record);
  (void)conn->send(std::string_view(setCommand("secret", "over tls") + "get secret\r\n"));
  const std::string expected = "STORED\r\n" + valueReply("secret", "over tls");
  CHECK(record->waitUntil([&](const auto& r) { return r.data.size() >= expected.size(); }));
  CHECK(record->get().data == expected);
  conn->close();

  RawClient plain(server.port());  // a client that does not speak TLS gets nowhere
  plain.send("version\r\n");
  CHECK(plain.readToEof().find("VERSION") == std::string::npos);
}

TEST_CASE("silent clients on a TLS port cannot hold every connection slot", "[e2e][tls]") {
  // The attack: fill -c with TCP connections that never start a handshake.
  const spool::test::TestPki& pki = spool::test::TestPki::get();
  Settings settings = TestServer::defaults(ExecMode::kInline);
  settings.tls = true;
  settings.ssl_chain_cert = pki.server_cert;
  settings.ssl_key = pki.server_key;
  settings.max_connections = 4;
  settings.ssl_handshake_timeout = 1;
  TestServer server(ExecMode::kInline, settings);
  std::vector<std::unique_ptr<RawClient>> silent;
  for (int i = 0; i < 8; ++i) {
    silent.push_back(std::make_unique<RawClient>(server.port()));
  }
  for (auto& client : silent) {  // each is closed: rejected at once, or by the handshake timeout
    client->readToEof();
    CHECK(client->closed());
  }
  // Every slot is free again: a real client is served.
  spool::test::RunningTransport client_side(1);
  auto record = std::make_shared<spool::test::Watched<spool::test::Recording>>();
  auto conn = connectTlsClient(*client_side, server.port(), record);
  (void)conn->send(std::string_view("version\r\n"));
  CHECK(record->waitUntil([](const auto& r) { return r.data.starts_with("VERSION "); }));
}

TEST_CASE("idle_timeout (-o) closes a client that stays silent", "[e2e]") {
  Settings settings = TestServer::defaults(ExecMode::kInline);
  settings.idle_timeout = 1;
  TestServer server(ExecMode::kInline, settings);
  RawClient client(server.port());
  CHECK(client.roundTrip("version\r\n").starts_with("VERSION"));
  client.readToEof();  // nothing more is sent: the server gives up after a second
  CHECK(client.closed());
}

TEST_CASE("responses in flight still arrive after the client half-closes", "[e2e]") {
  const ExecMode mode = modeUnderTest();
  INFO("exec=" << name(mode));
  TestServer server(mode, TestServer::defaults(mode));
  RawClient client(server.port());
  std::string request;
  std::string expected;
  for (int i = 0; i < 2000; ++i) {
    request += "set h" + std::to_string(i) + " 0 0 1\r\nx\r\nget h" + std::to_string(i) + "\r\n";
    expected += "STORED\r\n" + valueReply("h" + std::to_string(i), "x");
  }
  client.send(request);
  client.shutdownWrite();
  CHECK(client.readToEof() == expected);
  CHECK(client.closed());
}

TEST_CASE("many clients on many threads", "[e2e][concurrency]") {
  const ExecMode mode = modeUnderTest();
  INFO("exec=" << name(mode));
  TestServer server(mode, TestServer::defaults(mode));
  constexpr int kThreads = 4;
  constexpr int kRounds = 200;
  {
    RawClient setup(server.port());
    REQUIRE(setup.roundTrip("set ctr 0 0 1\r\n0\r\n") == "STORED\r\n");
  }
  std::vector<std::thread> threads;
  std::vector<int> failures(kThreads, 0);
  // What each thread's "incr ctr 1" returned: each increment is atomic, so
  // together they are exactly 1 .. kThreads * kRounds, each once.
  std::vector<std::vector<std::uint64_t>> counts(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::optional<RawClient> connection;
      try {
        connection.emplace(server.port());
      } catch (const std::exception&) {
        ++failures[static_cast<std::size_t>(t)];
        return;
      }
      RawClient& client = *connection;
      for (int i = 0; i < kRounds; ++i) {
        const std::string key = "t" + std::to_string(t) + "_" + std::to_string(i % 20);
        const std::string value = std::to_string(i * 31 + t);
        const std::string count = client.roundTrip("incr ctr 1\r\n");
        const bool numeric = count.size() > 2 && count.ends_with("\r\n") &&
                             count.find_first_not_of("0123456789") == count.size() - 2;
        if (numeric) {
          counts[static_cast<std::size_t>(t)].push_back(std::stoull(count));
        }
        if (client.roundTrip(setCommand(key, value)) != "STORED\r\n" ||
            client.roundTrip("get " + key + "\r\n", "END\r\n") != valueReply(key, value) ||
            !numeric) {
          ++failures[static_cast<std::size_t>(t)];
        }
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  CHECK(failures == std::vector<int>(kThreads, 0));
  std::vector<std::uint64_t> all;
  for (const auto& mine : counts) {
    CHECK(std::is_sorted(mine.begin(), mine.end()));  // one client's increments, in order
    all.insert(all.end(), mine.begin(), mine.end());
  }
  std::sort(all.begin(), all.end());
  std::vector<std::uint64_t> expected(kThreads * kRounds);
  std::iota(expected.begin(), expected.end(), 1);
  CHECK(all == expected);
  RawClient check(server.port());
  CHECK(check.roundTrip("get ctr\r\n", "END\r\n") ==
        valueReply("ctr", std::to_string(kThreads * kRounds)));
}

TEST_CASE("stats uses memcached's names plus spool's counters", "[e2e][stats]") {
  const ExecMode mode = modeUnderTest();
  INFO("exec=" << name(mode));
  TestServer server(mode, TestServer::defaults(mode));
  RawClient client(server.port());
  client.roundTrip(setCommand("s", "1"));
  client.roundTrip("get s nope\r\n", "END\r\n");
  const std::string stats = client.roundTrip("stats\r\n", "END\r\n");
  for (const char* key : {"pid", "uptime", "curr_connections", "total_connections", "cmd_get", "cmd_set",
                          "get_hits", "get_misses", "bytes_read", "bytes_written", "limit_maxbytes", "threads",
                          "curr_items", "evictions", "spool_wakeups_requested", "spool_messages_drained"}) {
    INFO(key);
    CHECK(stats.find(std::string("STAT ") + key + " ") != std::string::npos);
  }
  CHECK(stats.find("STAT get_hits 1\r\n") != std::string::npos);
  CHECK(stats.find("STAT get_misses 1\r\n") != std::string::npos);
  CHECK(stats.find("STAT curr_items 1\r\n") != std::string::npos);
  for (const char* group : {"settings", "items", "slabs", "conns"}) {
    CHECK(client.roundTrip(std::string("stats ") + group + "\r\n", "END\r\n").ends_with("END\r\n"));
  }
  // Workers send from their own threads, through the loops' inboxes.
  if (mode == ExecMode::kWorkers) {
    CHECK(statNumber(server.port(), "spool_messages_drained") > 0);
  }
}

TEST_CASE("workers mode sizes its pool by the cores the loops leave free unless --workers says otherwise", "[e2e]") {
  // One worker per loop, capped by the spare cores, at least one.
  STATIC_REQUIRE(workerCount(0, 2, 2) == 1);   // 2 cores, -t 2
  STATIC_REQUIRE(workerCount(0, 1, 2) == 1);
  STATIC_REQUIRE(workerCount(0, 4, 16) == 4);  // plenty of cores: one per loop
  STATIC_REQUIRE(workerCount(0, 4, 6) == 2);
  STATIC_REQUIRE(workerCount(0, 8, 4) == 1);   // more loops than cores
  STATIC_REQUIRE(workerCount(0, 3, 0) == 3);   // core count unknown
  STATIC_REQUIRE(workerCount(5, 2, 2) == 5);   // --workers wins

  Settings settings = TestServer::defaults(ExecMode::kWorkers);
  settings.threads = 3;
  settings.workers = 0;  // the command line's default
  TestServer by_default(ExecMode::kWorkers, settings);
  const unsigned expected = workerCount(0, 3, std::thread::hardware_concurrency());
  CHECK(by_default.server().workerThreads() == expected);
  RawClient client(by_default.port());
  CHECK(client.roundTrip("version\r\n").starts_with("VERSION "));
  CHECK(statNumber(by_default.port(), "worker_threads") == expected);

  settings.workers = 5;
  TestServer explicit_count(ExecMode::kWorkers, settings);
  CHECK(explicit_count.server().workerThreads() == 5);
}

}  // namespace spoold::test
