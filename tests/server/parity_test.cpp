// Behaviours of memcached 1.6.18 that spoold follows, checked against
// Debian's memcached with the same bytes: HTTP request lines, meta
// invalidation, -M, idle kicks, per-class stats and run-time tuning.
#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "binary_packets.h"
#include "server_test_support.h"

namespace spoold::test {
namespace {

/// The version line differs by design.
std::string maskVersion(std::string reply) {
  for (std::size_t at = reply.find("VERSION "); at != std::string::npos;
       at = reply.find("VERSION ", at + 1)) {
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

using Stats = std::vector<std::pair<std::string, std::string>>;

/// The (name, value) pairs of a `stats <group>` reply, in order.
Stats readStats(std::uint16_t port, const std::string& group) {
  RawClient client(port);
  const std::string reply = client.roundTrip("stats " + group + "\r\n", "END\r\n");
  Stats stats;
  std::size_t at = 0;
  for (std::size_t nl; (nl = reply.find("\r\n", at)) != std::string::npos; at = nl + 2) {
    const std::string line = reply.substr(at, nl - at);
    if (line.starts_with("STAT ")) {
      const std::size_t space = line.find(' ', 5);
      stats.emplace_back(line.substr(5, space - 5), line.substr(space + 1));
    }
  }
  return stats;
}

std::vector<std::string> names(const Stats& stats) {
  std::vector<std::string> out;
  for (const auto& [name, value] : stats) {
    out.push_back(name);
  }
  return out;
}

std::string lookupStat(const Stats& stats, const std::string& name) {
  for (const auto& [n, value] : stats) {
    if (n == name) {
      return value;
    }
  }
  return "<missing>";
}

/// Replies to `request` (then `mn`) on a fresh connection.
std::string session(std::uint16_t port, const std::string& request) {
  RawClient client(port);
  client.send(request + "mn\r\n");
  return client.readUntil("MN\r\n");
}

/// CAS values differ by design: "c123" and "cas=123" become "c<cas>".
std::string maskCas(const std::string& reply) {
  std::string out;
  std::size_t at = 0;
  while (at < reply.size()) {
    const std::size_t end = std::min(reply.find_first_of(" \r\n", at), reply.size());
    std::string token = reply.substr(at, end - at);
    for (const std::string prefix : {"c", "cas="}) {
      if (token.size() > prefix.size() && token.starts_with(prefix) &&
          token.find_first_not_of("0123456789", prefix.size()) == std::string::npos) {
        token = prefix + "<cas>";
      }
    }
    out += token;
    if (end < reply.size()) {
      out += reply[end];
    }
    at = end + 1;
  }
  return out;
}

}  // namespace

TEST_CASE("an HTTP request line closes the connection without an answer as memcached does",
          "[differential][http]") {
  Memcached memcached;
  const ExecMode mode = GENERATE(ExecMode::kInline, ExecMode::kWorkers);
  TestServer spoold(mode, TestServer::defaults(mode));
  // Closing lines, and look-alikes memcached answers: its dispatch letters
  // (g s a c i d t) answer ERROR, and only a last token "HTTP/..." counts.
  const std::vector<std::string> lines = {
      "GET / HTTP/1.0",  "PUT /a/b HTTP/1.1",  "DELETE HTTP/1.1",   "POST / HTTP/1.1",
      "HEAD / HTTP/1.1", "OPTIONS * HTTP/1.1", "x HTTP/1.0",        "GET x  HTTP/1.0 ",
      "mxx / HTTP/1.1",  "bxx HTTP/",          "GET / HTTP/1.0 x",  "GET / HTTP",
      "GET / http/1.1",  "G HTTP/1.0",         "gxx / HTTP/1.1",    "sxx / HTTP/1.1",
      "txx HTTP/1.1",    "get / HTTP/1.1",     "delete / HTTP/1.1", "version HTTP/1.1",
      "lru HTTP/1.1",    "mn HTTP/1.1",
  };
  for (const std::string& line : lines) {
    for (const std::string first : {"", "version\r\n", "bogus\r\n"}) {
      INFO("line: " << line << " after: " << first);
      CHECK(afterRoundTrip(spoold.port(), first, line) ==
            afterRoundTrip(memcached.port(), first, line));
    }
  }
  // memcached writes its answers out after each get and mn: those arrive
  // before the close, the ones queued after them do not.
  for (const std::string batch : {"get rh\r\n", "bogus\r\nget rh\r\nbogus\r\n", "mn\r\nbogus\r\n",
                                  "gets a b\r\nmn\r\nset a 0 0 1\r\nx\r\n", "set a 0 0 1\r\nx\r\n"}) {
    INFO("batch: " << batch);
    std::vector<std::string> replies;
    for (const std::uint16_t port : {spoold.port(), memcached.port()}) {
      RawClient client(port);
      client.send(batch + "GET / HTTP/1.1\r\nmn\r\n");
      replies.push_back(client.readToEof());
      CHECK(client.closed());
    }
    CHECK(replies[0] == replies[1]);
  }
  // Answers queued in the same read batch are dropped with the connection.
  RawClient client(spoold.port());
  client.send("version\r\nGET / HTTP/1.0\r\nversion\r\n");
  CHECK(client.readToEof().empty());
  CHECK(client.closed());
}

TEST_CASE("idle_kicks counts the connections idle_timeout closed as memcached does",
          "[differential][idle]") {
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

TEST_CASE("stats items and stats slabs report memcached's fields in its order",
          "[differential][stats]") {
  Memcached memcached;
  TestServer spoold(ExecMode::kInline, TestServer::defaults(ExecMode::kInline));
  const std::string value300(300, 'v');
  const std::string work =
      "set a 0 0 1\r\nx\r\nset b 0 100 300\r\n" + value300 +
      "\r\nget a b zz\r\ntouch b 200\r\nset n 0 0 1\r\n5\r\nincr n 2\r\ndecr n 1\r\n"
      "gets n\r\ncas n 0 0 1 1\r\n1\r\nset d 0 0 1\r\nx\r\ndelete d\r\nmg a v\r\n";
  CHECK(session(spoold.port(), work) == session(memcached.port(), work));
  for (const std::string group : {"items", "slabs"}) {
    INFO("stats " << group);
    const Stats ours = readStats(spoold.port(), group);
    const Stats theirs = readStats(memcached.port(), group);
    CHECK(names(ours) == names(theirs));
    // Values that must agree; LRU segment positions, ages and total_malloced
    // (memcached: whole pages) differ by design.
    for (const std::string field :
         {"number",      "mem_requested",     "evicted",     "outofmemory",
          "reclaimed",   "expired_unfetched", "chunk_size",  "chunks_per_page",
          "total_pages", "total_chunks",      "used_chunks", "free_chunks",
          "get_hits",    "cmd_set",           "delete_hits", "incr_hits",
          "decr_hits",   "cas_hits",          "cas_badval",  "touch_hits",
          "active_slabs"}) {
      for (const auto& [name, value] : theirs) {
        if (name == field || name.ends_with(":" + field)) {
          INFO(name);
          CHECK(lookupStat(ours, name) == value);
        }
      }
    }
  }
  // stats reset zeroes the per-class counters in both.
  for (const std::uint16_t port : {spoold.port(), memcached.port()}) {
    RawClient(port).roundTrip("stats reset\r\n");
    CHECK(lookupStat(readStats(port, "slabs"), "1:get_hits") == "0");
  }
}

TEST_CASE(
    "with evictions off (-M) a full cache refuses stores instead of evicting as memcached does",
    "[differential][evictions]") {
  Memcached memcached({"-M", "-m", "8"});
  Settings settings = TestServer::defaults(ExecMode::kInline);
  settings.memory_limit = 8u << 20;
  settings.evict = false;
  TestServer spoold(ExecMode::kInline, settings);
  const std::string value(100000, 'x');
  for (const std::uint16_t port : {spoold.port(), memcached.port()}) {
    INFO("port " << port << " (spoold " << spoold.port() << ")");
    RawClient client(port);
    std::string reply;
    int stored = 0;
    for (; stored < 200; ++stored) {
      reply =
          client.roundTrip("set k" + std::to_string(stored) + " 0 0 100000\r\n" + value + "\r\n");
      if (reply != "STORED\r\n") {
        break;
      }
    }
    CHECK(stored > 60);
    CHECK(reply == "SERVER_ERROR out of memory storing object\r\n");
    CHECK(client.roundTrip("ms more 100000 T0\r\n" + value + "\r\n") ==
          "SERVER_ERROR out of memory storing object\r\n");
    // The binary protocol's answer: status 0x82 and memcached's message.
    RawClient bin(port);
    bin.send(binaryPacket(binary::kSet, "bin", value, u32s({0, 0})) + binaryPacket(binary::kNoop));
    const std::string answer = bin.read(2 * binary::kHeaderSize + 13);  // then the NOOP's answer
    REQUIRE(answer.size() >= binary::kHeaderSize);
    const binary::Header header = binary::decodeHeader(answer);
    CHECK(header.vbucket == binary::kOutOfMemory);  // a response carries its status there
    CHECK(answer.substr(binary::kHeaderSize, header.body_length) ==
          "Out of memory allocating item");
    // Nothing was evicted: the first item is still there; the refused set
    // was swallowed whole and the connection still answers.
    CHECK(client.roundTrip("mg k0 s\r\n") == "HD s100000\r\n");
    CHECK(statValue(port, "evictions") == "0");
    CHECK(statValue(port, "store_no_memory") == "2");  // the binary refusal is not counted
    CHECK(lookupStat(readStats(port, "settings"), "evictions") == "off");
    const Stats items = readStats(port, "items");
    CHECK(std::any_of(items.begin(), items.end(), [](const auto& s) {
      return s.first.ends_with(":outofmemory") && s.second == "3";
    }));
  }
}

TEST_CASE("slabs and lru and cache_memlimit answer as memcached without slab moves or LRU segments",
          "[differential][admin]") {
  // spoold has no slab pages to move and a flat LRU: the memcached to
  // compare with has those features off.
  Memcached memcached({"-o", "no_slab_reassign,no_lru_maintainer"});
  TestServer spoold(ExecMode::kInline, TestServer::defaults(ExecMode::kInline));
  const std::string script =
      "slabs reassign 1 2\r\nslabs reassign 1\r\nslabs reassign x 2\r\nslabs reassign 1 2 "
      "noreply\r\n"
      "slabs automove 1\r\nslabs automove 2\r\nslabs automove 3\r\nslabs automove x\r\n"
      "slabs automove 0 noreply\r\nslabs automove ratio 0.5\r\nslabs automove ratio x\r\nslabs "
      "automove\r\n"
      "slabs bogus\r\nslabs\r\nlru tune 10 25 0.1 2\r\nlru tune 50 40 0.1 2\r\nlru tune 10 25 0 "
      "2\r\n"
      "lru tune x 25 0.1 2\r\nlru tune 10 25 0.1\r\nlru tune 10 25 0.1 2 noreply\r\nlru mode "
      "flat\r\nlru mode segmented\r\n"
      "lru temp_ttl 10\r\nlru x noreply\r\nlru\r\ncache_memlimit\r\ncache_memlimit "
      "7\r\ncache_memlimit x\r\n"
      "cache_memlimit 1000000001\r\ncache_memlimit 100 noreply\r\ncache_memlimit 64 "
      "x\r\ncache_memlimit 9\r\n";
  CHECK(session(spoold.port(), script) == session(memcached.port(), script));
  for (const std::uint16_t port : {spoold.port(), memcached.port()}) {
    CHECK(statValue(port, "limit_maxbytes") == std::to_string(9u << 20));
    CHECK(lookupStat(readStats(port, "settings"), "maxbytes") == std::to_string(9u << 20));
  }
}

TEST_CASE("meta stale/win/recache flags follow memcached 1.6.18", "[differential][meta]") {
  Memcached memcached;
  const ExecMode mode = GENERATE(ExecMode::kInline, ExecMode::kWorkers);
  TestServer spoold(mode, TestServer::defaults(mode));
  const std::vector<std::string> scripts = {
      // ms I: a CAS older than the item's stores, marked stale (TTL and
      // token kept); C0, a newer CAS or append mode are plain mismatches.
      "ms y 1 T100\r\nx\r\nms y 1 T100\r\nx\r\nms y 1 C1 I T0 c\r\ny\r\nmg y v t c\r\nmg y v\r\n"
      "ms y 1 C2 I q\r\nz\r\nmg y v\r\nms y 1 C3 I MA\r\nz\r\nms y 1 C0 I c\r\nz\r\n"
      "ms y 1 C99999999 I c\r\nz\r\nms y 1 c T0\r\nk\r\nmg y v\r\nms zz 1 C1 I\r\nz\r\n",
      // md I marks stale instead of deleting; T sets a new TTL; q hides HD.
      "ms z 1 T100\r\nx\r\nmd z I\r\nmg z v\r\nmd z I T30\r\nmg z t v\r\nmg z t v\r\nmd z q I\r\n"
      "md zz I\r\nmd z C1 I\r\nmd z C0 I\r\nmg z v\r\nms z 1\r\nn\r\nmg z v\r\nme z\r\n",
      // R: a client wins the recache token once the TTL is below the
      // threshold; others see Z. N: a miss creates the item and wins.
      "ms r 1 T20\r\nx\r\nmg r v R10\r\nmg r v R30\r\nmg r v R30\r\nmg r v\r\nmg r R30 v t\r\n"
      "mg nv N30 v t\r\nmg nv N30 v t c\r\nmg nv v\r\nms nv 1\r\nv\r\nmg nv v\r\nmd nv I\r\nmg nv "
      "N30 v\r\n",
      // E (client CAS) came after 1.6.18: it is an invalid flag there.
      "ms e 1 E500\r\nx\r\nmd e E5\r\nmg e E5\r\nma e E5\r\n",
  };
  for (const std::string& script : scripts) {
    INFO("script: " << script);
    std::string ours;
    std::string theirs;
    // TTLs count down with each server's clock: a session that straddles a
    // second boundary in one of them runs again (at most three times).
    for (int run = 0; run < 3 && (run == 0 || ours != theirs); ++run) {
      ours = maskCas(session(spoold.port(), "flush_all\r\n" + script));
      theirs = maskCas(session(memcached.port(), "flush_all\r\n" + script));
    }
    CHECK(ours == theirs);
  }
}

TEST_CASE("a lookup that meets a dead item counts get_expired or get_flushed and not reclaimed",
          "[differential][stats]") {
  // Without memcached's background LRU maintainer and crawler, which
  // reclaim on their own schedule: the flat LRU spoold has.
  Memcached memcached({"-o", "no_lru_maintainer,no_lru_crawler"});
  TestServer spoold(ExecMode::kInline, TestServer::defaults(ExecMode::kInline));
  const std::string script = "set fa 0 0 1\r\nx\r\nset fb 0 0 1\r\nx\r\nget fb\r\nflush_all\r\n"
                             "get fa fb\r\nset dead 0 -1 1\r\nx\r\nget dead\r\n";
  CHECK(session(spoold.port(), script) == session(memcached.port(), script));
  for (const std::string name : {"get_expired", "get_flushed", "reclaimed", "expired_unfetched"}) {
    INFO(name);
    CHECK(statValue(spoold.port(), name) == statValue(memcached.port(), name));
  }
}

}  // namespace spoold::test
