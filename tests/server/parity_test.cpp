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

}  // namespace spoold::test
