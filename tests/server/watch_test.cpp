// `watch`: memcached's log lines for watching clients, bounded per watcher.
#include <catch2/catch.hpp>

#include <regex>
#include <string>
#include <vector>

#include "server_test_support.h"

namespace spoold::test {
namespace {

/// The lines of `text` with what differs by design masked: the time, the
/// log entry id, the client's descriptor (spoold: its connection id) and
/// port, and the TTL of an item stored already expired (memcached prints
/// 1 - now, which depends on each server's uptime).
std::vector<std::string> masked(const std::string& text) {
  static const std::regex kVolatile(R"((ts|gid|cfd|rport)=[0-9.]+)");
  static const std::regex kPast(R"(ttl=42949[0-9]{5})");
  std::vector<std::string> lines;
  std::size_t at = 0;
  for (std::size_t nl; (nl = text.find('\n', at)) != std::string::npos; at = nl + 1) {
    const std::string line = std::regex_replace(text.substr(at, nl - at), kVolatile, "$1=<n>");
    lines.push_back(std::regex_replace(line, kPast, "ttl=<past>"));
  }
  return lines;
}

/// Runs a session with keys prefixed by `p` on a second connection while a
/// first one watches `what`, then reads the watcher up to the line of a
/// last set of "<p>end". Only the session's lines are kept: memcached's
/// logger gathers each worker thread's lines in turn, so the marker's line
/// (another connection) may come first, and a new watcher may still get a
/// line logged before it came.
std::vector<std::string> watchedLines(std::uint16_t port, const std::string& what,
                                      const std::string& p) {
  RawClient watcher(port);
  REQUIRE(watcher.roundTrip("watch " + what + "\r\n") == "OK\r\n");
  const std::string traffic =
      "set " + p + "foo 3 0 2\r\nhi\r\nget " + p + "foo\r\nget " + p + "nope\r\ngets " + p +
      "foo\r\ntouch " + p + "foo 10\r\ngat 0 " + p + "foo\r\ndelete " + p + "foo\r\nincr " + p +
      "foo 1\r\nset " + p + "n 0 100 1\r\n5\r\nincr " + p + "n 1\r\ndecr " + p + "n 1\r\nappend " +
      p + "n 0 0 1\r\n1\r\ncas " + p + "n 0 0 1 999\r\nx\r\nmg " + p + "n v\r\nms " + p +
      "m 2\r\nhi\r\nmd " + p + "m\r\nma " + p + "n\r\nadd " + p + "n 0 0 1\r\n1\r\nset " + p +
      "a%b 0 0 1\r\nx\r\nget " + p + "a%b\r\nreplace " + p + "zz 0 0 1\r\nx\r\nprepend " + p +
      "n 0 0 1\r\n0\r\nset " + p + "t 0 -1 1\r\nx\r\nget " + p + "t\r\n";
  {
    RawClient client(port);
    client.send(traffic + "quit\r\n");
    client.readToEof();
  }
  RawClient marker(port);
  marker.roundTrip("set " + p + "end 0 0 1\r\nx\r\n");
  const std::string last = what.find("mutations") != std::string::npos ? "item_store" : "item_get";
  std::vector<std::string> lines =
      masked(watcher.readUntilContains("type=" + last + " key=" + p + "end ", "\n"));
  std::erase_if(lines, [&](const std::string& line) {
    return line.find(" key=" + p) == std::string::npos ||
           line.find(" key=" + p + "end ") != std::string::npos;
  });
  return lines;
}

}  // namespace

TEST_CASE("watch fetchers and mutations lines match memcached's", "[server][watch][differential]") {
  Memcached memcached;
  const ExecMode mode = GENERATE(ExecMode::kInline, ExecMode::kWorkers);
  TestServer spoold(mode, TestServer::defaults(mode));
  int round = 0;
  for (const std::string what : {"fetchers", "mutations", "fetchers mutations"}) {
    INFO("watch " << what);
    const std::string prefix =
        std::string(mode == ExecMode::kInline ? "i" : "w") + std::to_string(round++);
    const auto theirs = watchedLines(memcached.port(), what, prefix);
    CHECK(theirs.size() > 5);
    CHECK(watchedLines(spoold.port(), what, prefix) == theirs);
  }
}

TEST_CASE("watch connevents lines match memcached's", "[server][watch][differential]") {
  Memcached memcached;
  TestServer spoold(ExecMode::kInline, TestServer::defaults(ExecMode::kInline));
  std::vector<std::vector<std::string>> both;
  for (const std::uint16_t port : {spoold.port(), memcached.port()}) {
    RawClient watcher(port);
    REQUIRE(watcher.roundTrip("watch connevents\r\n") == "OK\r\n");
    {
      RawClient client(port);
      client.send("quit\r\n");
      client.readToEof();
    }
    both.push_back(masked(watcher.readUntilContains("type=conn_close", "\n")));
  }
  REQUIRE(both[1].size() == 2);
  CHECK(both[0] == both[1]);
}

TEST_CASE("watch answers as memcached for bad arguments and with -W", "[server][watch]") {
  Settings settings = TestServer::defaults(ExecMode::kInline);
  TestServer spoold(ExecMode::kInline, settings);
  RawClient client(spoold.port());
  CHECK(client.roundTrip("watch deletions\r\n") == "ERROR\r\n");
  settings.watch_enabled = false;
  TestServer refusing(ExecMode::kInline, settings);
  RawClient refused(refusing.port());
  CHECK(refused.roundTrip("watch\r\n") == "CLIENT_ERROR watch commands not allowed\r\n");
}

TEST_CASE("watch evictions prints memcached's eviction line", "[server][watch]") {
  Settings settings = TestServer::defaults(ExecMode::kInline);
  settings.memory_limit = 1u << 20;
  TestServer spoold(ExecMode::kInline, settings);
  RawClient watcher(spoold.port());
  REQUIRE(watcher.roundTrip("watch evictions\r\n") == "OK\r\n");
  RawClient client(spoold.port());
  const std::string value(100000, 'v');
  for (int i = 0; i < 20; ++i) {
    client.roundTrip("set e" + std::to_string(i) + " 0 0 100000\r\n" + value + "\r\n");
  }
  const std::vector<std::string> lines = masked(watcher.readUntilContains("type=eviction", "\n"));
  REQUIRE_FALSE(lines.empty());
  // memcached: "... type=eviction key=e0 fetch=no ttl=-1 la=0 clsid=32 size=100000"
  CHECK(std::regex_match(
      lines.front(),
      std::regex("ts=<n> gid=<n> type=eviction key=e[0-9]+ fetch=no ttl=-1 la=[0-9]+ "
                 "clsid=[0-9]+ size=100000")));
}

TEST_CASE("a watcher that never reads neither slows the server nor grows its memory",
          "[server][watch]") {
  const ExecMode mode = GENERATE(ExecMode::kInline, ExecMode::kWorkers);
  Settings settings = TestServer::defaults(mode);
  constexpr std::size_t kLimit = 16u << 10;
  settings.tuning.watcher_logbuf_size = kLimit;
  TestServer spoold(mode, settings);
  WatchLog& log = spoold.server().context().watch;
  RawClient watcher(spoold.port(), "127.0.0.1", 4096);  // small, and never read below
  REQUIRE(watcher.roundTrip("watch fetchers\r\n") == "OK\r\n");
  RawClient client(spoold.port());
  REQUIRE(client.roundTrip("set k 0 0 1\r\nx\r\n") == "STORED\r\n");
  std::string gets;
  for (int i = 0; i < 2000; ++i) {
    gets += "get k\r\n";
  }
  const std::string hit = "VALUE k 0 1\r\nx\r\nEND\r\n";
  // At least 40,000 lines, and on until the buffer has dropped some: what
  // the watcher's socket takes before that (the kernel's send buffer grows
  // to 4 MiB, then the 1 MiB send budget) varies from run to run.
  for (int round = 0; round < 20 || (round < 500 && log.stats().skipped == 0); ++round) {
    client.send(gets);
    REQUIRE(client.read(hit.size() * 2000).size() == hit.size() * 2000);  // within kTimeout
    CHECK(log.stats().buffered <= kLimit);
  }
  const WatchLog::Stats stats = log.stats();
  CHECK(stats.skipped > 0);
  CHECK(stats.watchers == 1);
  CHECK(statValue(spoold.port(), "log_watcher_skipped") != "0");
  // Once it reads again, the watcher is told how many lines it lost.
  // Read on until the line after the notice has come too: the notice can
  // arrive in one read and the next line in a later one.
  const std::regex notice("(^|\n)skipped=[0-9]+\nts=");
  std::string seen;
  for (int round = 0; round < 200 && !std::regex_search(seen, notice); ++round) {
    client.roundTrip("get k\r\n", "END\r\n");
    seen += watcher.read(1u << 20, std::chrono::milliseconds(50));
  }
  CHECK(std::regex_search(seen, notice));
}

}  // namespace spoold::test
