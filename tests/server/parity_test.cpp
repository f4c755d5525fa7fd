// Behaviours of memcached 1.6.18 that spoold follows, checked against
// Debian's memcached with the same bytes: HTTP request lines, meta
// invalidation, -M, idle kicks, per-class stats and run-time tuning.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "server_test_support.h"

namespace spoold::test {
namespace {

/// The version line differs by design.
std::string maskVersion(std::string reply) {
  for (std::size_t at = reply.find("VERSION "); at != std::string::npos; at = reply.find("VERSION ", at + 1)) {
    reply.replace(at + 8, reply.find("\r\n", at) - at - 8, "<v>");
  }
  return reply;
}

/// Sends `first` and waits for its answer (so that it is its own read batch),
/// then sends `line`, `version` and `quit`; returns what came back until the
/// server closed.
std::string afterRoundTrip(std::uint16_t port, const std::string& first, const std::string& line) {
  RawClient client(port);
  std::string reply = first.empty() ? std::string() : client.roundTrip(first);
  client.send(line + "\r\nversion\r\nquit\r\n");
  reply += client.readToEof();
  CHECK(client.closed());
  return maskVersion(reply);
}

/// Polls `stats` until `name` reads `value`; false after kTimeout.
bool waitForStat(std::uint16_t port, std::string_view name, std::string_view value) {
  const auto deadline = std::chrono::steady_clock::now() + kTimeout;
  for (int tries = 0; tries < 100000 && std::chrono::steady_clock::now() < deadline; ++tries) {
    if (statValue(port, name) == value) {
      return true;
    }
  }
  return false;
}

}  // namespace

TEST_CASE("an HTTP request line closes the connection without an answer, as memcached", "[differential][http]") {
  Memcached memcached;
  const ExecMode mode = GENERATE(ExecMode::kInline, ExecMode::kWorkers);
  TestServer spoold(mode, TestServer::defaults(mode));
  // Closing lines, and look-alikes memcached answers: its dispatch letters
  // (g s a c i d t) answer ERROR, and only a last token "HTTP/..." counts.
  const std::vector<std::string> lines = {
      "GET / HTTP/1.0", "PUT /a/b HTTP/1.1", "DELETE HTTP/1.1", "POST / HTTP/1.1", "HEAD / HTTP/1.1",
      "OPTIONS * HTTP/1.1", "x HTTP/1.0", "GET x  HTTP/1.0 ", "mxx / HTTP/1.1", "bxx HTTP/", "GET / HTTP/1.0 x",
      "GET / HTTP", "GET / http/1.1", "G HTTP/1.0", "gxx / HTTP/1.1", "sxx / HTTP/1.1", "txx HTTP/1.1",
      "get / HTTP/1.1", "delete / HTTP/1.1", "version HTTP/1.1", "lru HTTP/1.1", "mn HTTP/1.1",
  };
  for (const std::string& line : lines) {
    for (const std::string first : {"", "version\r\n", "bogus\r\n"}) {
      INFO("line: " << line << " after: " << first);
      CHECK(afterRoundTrip(spoold.port(), first, line) == afterRoundTrip(memcached.port(), first, line));
    }
  }
  // Answers queued in the same read batch are dropped with the connection.
  RawClient client(spoold.port());
  client.send("version\r\nGET / HTTP/1.0\r\nversion\r\n");
  CHECK(client.readToEof().empty());
  CHECK(client.closed());
}

TEST_CASE("idle_kicks counts the connections idle_timeout closed, as memcached", "[differential][idle]") {
  Memcached memcached({"-o", "idle_timeout=1"});
  Settings settings = TestServer::defaults(ExecMode::kInline);
  settings.idle_timeout = 1;
  TestServer spoold(ExecMode::kInline, settings);
  for (const std::uint16_t port : {spoold.port(), memcached.port()}) {
    INFO("port " << port << " (spoold " << spoold.port() << ")");
    CHECK(statValue(port, "idle_kicks") == "0");
    {
      RawClient silent(port);
      CHECK(silent.readToEof().empty());
      CHECK(silent.closed());
    }
    // spoold counts when the connection is gone (after its graceful close
    // completes), a moment after the client saw EOF: poll, bounded.
    CHECK(waitForStat(port, "idle_kicks", "1"));
    // Placed where memcached places it, and reset by `stats reset`.
    RawClient client(port);
    const std::string stats = client.roundTrip("stats\r\n", "END\r\n");
    CHECK(stats.find("STAT auth_errors 0\r\nSTAT idle_kicks 1\r\n") != std::string::npos);
    CHECK(client.roundTrip("stats reset\r\n") == "RESET\r\n");
    CHECK(statValue(port, "idle_kicks") == "0");
  }
}

}  // namespace spoold::test
