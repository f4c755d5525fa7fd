// memcached 1.6.18's command-line flags, in process: spoold parses the same
// flags as memcached, and the two must answer the same bytes and report the
// same `stats settings`.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "binary_codec.h"
#include "binary_packets.h"
#include "options.h"
#include "server_test_support.h"

namespace spoold::test {
namespace {

/// Settings parsed from memcached-style `flags`, on port 0 with two loops.
Settings settingsFor(const std::vector<std::string>& flags, ExecMode mode = ExecMode::kInline) {
  std::vector<std::string> args{"spoold"};
  args.insert(args.end(), flags.begin(), flags.end());
  std::vector<char*> argv;
  for (std::string& arg : args) {
    argv.push_back(arg.data());
  }
  std::ostringstream out;
  std::ostringstream err;
  const CommandLine cli = parseCommandLine(static_cast<int>(argv.size()), argv.data(), out, err);
  INFO(err.str());
  REQUIRE(cli.run);
  Settings s = cli.settings;
  s.port = 0;
  s.threads = 2;
  s.exec = mode;
  return s;
}

/// The `stats <group>` of the server on `port` as name -> value.
std::map<std::string, std::string> statsOf(std::uint16_t port, const std::string& group) {
  RawClient client(port);
  const std::string text =
      client.roundTrip("stats" + (group.empty() ? "" : " " + group) + "\r\n", "END\r\n");
  std::map<std::string, std::string> stats;
  std::istringstream lines(text);
  std::string stat, name, value;
  while (lines >> stat >> name >> value) {
    stats[name] = value;
  }
  return stats;
}

/// memcached and an in-process spoold started with the same flags.
struct BothServers {
  explicit BothServers(const std::vector<std::string>& flags, ExecMode mode = ExecMode::kInline)
      : memcached(flags), spoold(mode, settingsFor(flags, mode)) {}
  Memcached memcached;
  TestServer spoold;
};

/// `stats settings` of both must agree on each of `keys`.
void checkSettings(BothServers& both, const std::vector<std::string>& keys) {
  const auto theirs = statsOf(both.memcached.port(), "settings");
  const auto ours = statsOf(both.spoold.port(), "settings");
  for (const std::string& key : keys) {
    INFO(key);
    REQUIRE(theirs.count(key) == 1);
    const auto it = ours.find(key);
    CHECK((it == ours.end() ? std::string("<missing>") : it->second) == theirs.at(key));
  }
}

/// Sends `request` to both on fresh connections; the replies, read until
/// they end with `terminator`, must be the same bytes.
void checkSame(BothServers& both, const std::string& request, const std::string& terminator) {
  RawClient theirs(both.memcached.port());
  RawClient ours(both.spoold.port());
  const std::string expected = theirs.roundTrip(request, terminator);
  INFO(request);
  REQUIRE(std::string_view(expected).ends_with(terminator));
  CHECK(ours.roundTrip(request, terminator) == expected);
}

/// Sends binary `request` to both; `n` bytes of reply must be the same.
void checkSameBinary(BothServers& both, const std::string& request, std::size_t n) {
  RawClient theirs(both.memcached.port());
  RawClient ours(both.spoold.port());
  theirs.send(request);
  ours.send(request);
  const std::string expected = theirs.read(n);
  REQUIRE(expected.size() == n);
  CHECK(ours.read(n) == expected);
}

/// The "STAT <class>:chunk_size <bytes>" lines of `stats slabs`.
std::string chunkSizes(std::uint16_t port) {
  std::string lines;
  for (const auto& [name, value] : statsOf(port, "slabs")) {
    if (name.ends_with(":chunk_size")) {
      lines += name + " " + value + "\n";
    }
  }
  return lines;
}

}  // namespace

TEST_CASE("spoold -F refuses flush_all in text and binary as memcached does",
          "[flags][differential]") {
  BothServers both({"-F"});
  checkSame(both, "set k 0 0 1\r\nx\r\nflush_all\r\nflush_all 0\r\nflush_all noreply\r\nget k\r\n",
            "END\r\n");
  const std::string flush = binaryPacket(binary::kFlush);
  checkSameBinary(both, flush, binary::kHeaderSize + std::string_view("Auth failure.").size());
  checkSettings(both, {"flush_enabled"});
  CHECK(statValue(both.spoold.port(), "cmd_flush") ==
        statValue(both.memcached.port(), "cmd_flush"));
}

TEST_CASE("spoold -C makes every CAS value 0 and every cas command fail as memcached does",
          "[flags][differential]") {
  BothServers both({"-C"});
  checkSame(both,
            "set k 0 0 1\r\na\r\ngets k\r\nmg k c v\r\ncas k 0 0 1 0\r\nb\r\ncas k 0 0 1 5\r\nb\r\n"
            "cas nokey 0 0 1 0\r\nb\r\nms k 1 C0\r\nb\r\nms k 1 I\r\nc\r\nmg k c v\r\nmn\r\n",
            "MN\r\n");
  // A binary GET carries the CAS in its header: 0 too.
  checkSameBinary(both, binaryPacket(binary::kGet, "k"), binary::kHeaderSize + 4 + 1);
  checkSettings(both, {"cas_enabled"});
  // memcached's items have no CAS bytes then: 8 bytes fewer each.
  CHECK(statValue(both.spoold.port(), "bytes") == statValue(both.memcached.port(), "bytes"));
}

TEST_CASE("spoold -X refuses cachedump and metadump and -W refuses watch as memcached does",
          "[flags][differential]") {
  BothServers both({"-X", "-W"});
  checkSame(
      both,
      "set k 0 0 1\r\nx\r\nlru_crawler metadump all\r\nstats cachedump 1 1\r\nstats cachedump\r\n"
      "lru_crawler metadump 1\r\nwatch\r\nmn\r\n",
      "MN\r\n");
  checkSettings(both, {"dump_enabled"});
}

TEST_CASE("spoold -f and -n set the slab classes items are counted in as memcached does",
          "[flags][differential]") {
  BothServers both({"-f", "2", "-n", "100"});
  const std::string sets = "set a 0 0 1\r\nx\r\nset b 0 0 300\r\n" + std::string(300, 'y') +
                           "\r\nset c 0 0 5000\r\n" + std::string(5000, 'z') + "\r\nmn\r\n";
  checkSame(both, sets, "MN\r\n");
  CHECK(chunkSizes(both.spoold.port()) == chunkSizes(both.memcached.port()));
  CHECK(chunkSizes(both.spoold.port()).find("1:chunk_size 152") != std::string::npos);
  checkSettings(both, {"growth_factor", "chunk_size"});
}

TEST_CASE("spoold -B binds connections to one protocol as memcached does",
          "[flags][differential]") {
  const std::string noop = binaryPacket(binary::kNoop);
  SECTION("ascii: binary bytes are parsed as text") {
    BothServers both({"-B", "ascii"});
    checkSame(both, noop + "\r\nmn\r\n", "MN\r\n");
    checkSettings(both, {"binding_protocol"});
  }
  SECTION("binary: text is a bad magic byte, which ends the connection") {
    BothServers both({"-B", "binary"});
    checkSameBinary(both, noop, binary::kHeaderSize);
    RawClient theirs(both.memcached.port());
    RawClient ours(both.spoold.port());
    const std::string text = "version\r\n" + std::string(20, 'x');
    theirs.send(text);
    ours.send(text);
    CHECK(ours.readToEof() == theirs.readToEof());
    CHECK(ours.closed());
    // (No text `stats settings` to compare: -B binary refuses text.)
  }
  SECTION("auto") {
    BothServers both({"-B", "auto"});
    checkSettings(both, {"binding_protocol"});
  }
}

TEST_CASE(
    "spoold -A: shutdown closes the connection and asks the process to stop as memcached does",
    "[flags][differential]") {
  Memcached memcached({"-A"});
  Server spoold(settingsFor({"-A"}));
  std::atomic<int> requests{0};
  // Set before start(): the loop threads read it.
  spoold.context().request_shutdown = [&] { ++requests; };
  spoold.start();
  const std::string bad = "shutdown foo\r\nshutdown graceful now\r\nmn\r\n";
  RawClient theirs(memcached.port());
  RawClient ours(spoold.port());
  CHECK(ours.roundTrip(bad, "MN\r\n") == theirs.roundTrip(bad, "MN\r\n"));
  CHECK(statsOf(spoold.port(), "settings").at("shutdown_command") ==
        statsOf(memcached.port(), "settings").at("shutdown_command"));
  for (const char* command : {"shutdown\r\n", "shutdown graceful\r\n"}) {
    RawClient client(spoold.port());
    client.send(command);
    CHECK(client.readToEof().empty());
    CHECK(client.closed());
  }
  CHECK(requests == 2);
  spoold.stop();
}

TEST_CASE("spoold -R yields once per that many requests while more wait and counts conn_yields",
          "[flags]") {
  // memcached's conn_yields also counts its own internal flushes (a pipeline
  // of n `version` counts n/R, of n `mn` (n-1)/R), so the counts are
  // spoold's own here: one per turn cut short, ceil(n/R) - 1.
  const ExecMode mode = GENERATE(ExecMode::kInline, ExecMode::kWorkers);
  TestServer spoold(mode, settingsFor({"-R", "2"}, mode));
  CHECK(statsOf(spoold.port(), "settings").at("reqs_per_event") == "2");
  for (const int n : {1, 2, 3, 5, 10}) {
    const auto before = std::stoull(statValue(spoold.port(), "conn_yields"));
    std::string request;
    std::string expected;
    for (int i = 0; i < n; ++i) {
      request += "mn\r\n";
      expected += "MN\r\n";
    }
    RawClient client(spoold.port());
    client.send(request);  // one segment: one read on the server
    INFO(n << " pipelined requests");
    CHECK(client.read(expected.size()) == expected);
    CHECK(std::stoull(statValue(spoold.port(), "conn_yields")) - before ==
          static_cast<unsigned>((n + 1) / 2 - 1));
  }
}

TEST_CASE("spoold -R 1 keeps a long pipeline in order across yields", "[flags]") {
  const ExecMode mode = GENERATE(ExecMode::kInline, ExecMode::kWorkers);
  TestServer spoold(mode, settingsFor({"-R", "1"}, mode));
  RawClient client(spoold.port());
  CHECK(client.roundTrip("set c 0 0 1\r\n0\r\n") == "STORED\r\n");
  constexpr int kIncrements = 5000;
  std::string request;
  std::string expected;
  for (int i = 1; i <= kIncrements; ++i) {
    request += "incr c 1\r\n";
    expected += std::to_string(i) + "\r\n";
  }
  client.send(request);
  CHECK(client.read(expected.size()) == expected);
  CHECK(std::stoull(statValue(spoold.port(), "conn_yields")) >= kIncrements - 1);
}

TEST_CASE("spoold -Y asks for memcached's ASCII authentication and answers as memcached does",
          "[flags][differential]") {
  const auto path =
      std::filesystem::temp_directory_path() / ("spoold-auth-" + std::to_string(::getpid()));
  std::ofstream(path) << "alice:secret\nbob:pw2\n";
  BothServers both({"-Y", path.string()});
  // Several in one read: memcached 1.6.18 reuses one response object until a
  // connection is authenticated, so only the last of those replies arrives.
  const std::string noop =
      binaryPacket(binary::kNoop);  // its opcode is '\n': one line, then a partial one
  for (const std::string& request :
       {std::string("version\r\n"), std::string("get k\r\n"), std::string("mn\r\n"),
        std::string("set x 0 0 9\r\nalice bad\r\n"), std::string("set x 0 0 5\r\nalice\r\n"),
        std::string("set x 0 0 12\r\nalice secretXY"), std::string("set x 0 0\r\n"),
        std::string("add x 0 0 12\r\n"), std::string("add x 0 0 12\r\nalice secret\r\n"),
        std::string("version\r\nset x 0 0 9\r\nalice bad\r\n"),
        std::string("set x 0 0 9\r\nalice bad\r\nmn\r\n"),
        std::string("get a\r\nset x 0 0 12\r\nalice secret\r\nmn\r\n"),
        std::string("set x 0 0 12\r\nalice secret\r\n"),
        std::string("set x 1 2 7 noreply\r\nbob pw2\r\n"), noop}) {
    checkSame(both, request, "\r\n");
  }
  // Authenticated: the connection speaks the whole protocol.
  const auto session = [](std::uint16_t port) {
    RawClient client(port);
    std::string replies = client.roundTrip("set x 0 0 12\r\nalice secret\r\n");
    replies += client.roundTrip("set k 0 0 1\r\na\r\nget k\r\n", "END\r\n");
    const std::string settings = client.roundTrip("stats settings\r\n", "END\r\n");
    for (const char* key : {"STAT auth_enabled_sasl ", "STAT auth_enabled_ascii "}) {
      const std::size_t at = settings.find(key);
      replies += at == std::string::npos ? "<missing>"
                                         : settings.substr(at, settings.find('\n', at) - at + 1);
    }
    return replies;
  };
  CHECK(session(both.spoold.port()) == session(both.memcached.port()));
  const auto counters = [](std::uint16_t port) {
    RawClient client(port);
    client.roundTrip("set x 0 0 7\r\nbob pw2\r\n");
    const std::string stats = client.roundTrip("stats\r\n", "END\r\n");
    std::string lines;
    for (const char* key : {"STAT auth_cmds ", "STAT auth_errors "}) {
      const std::size_t at = stats.find(key);
      lines +=
          at == std::string::npos ? "<missing>" : stats.substr(at, stats.find('\n', at) - at + 1);
    }
    return lines;
  };
  CHECK(counters(both.spoold.port()) == counters(both.memcached.port()));
  std::filesystem::remove(path);
}

TEST_CASE("spoold -D and stats detail count gets and sets and deletes per prefix as memcached does",
          "[flags][differential]") {
  const std::string traffic =
      "set nodelim 0 0 1\r\nx\r\nset a#1 0 0 1\r\nx\r\nset b#1 0 0 1\r\nx\r\nget a#1 a#2 b#1 "
      "nodelim\r\n"
      "delete a#9\r\nmg b#1 v\r\nset zz#1 0 0 1\r\nx\r\nincr a#1 1\r\ntouch a#1 10\r\ngat 10 "
      "b#1\r\n"
      "add user#7 0 0 1\r\ny\r\nadd user#7 0 0 1\r\ny\r\nget user#7\r\nmn\r\n";
  SECTION("-D turns them on") {
    BothServers both({"-D", "#"});
    checkSettings(both, {"stat_key_prefix", "detail_enabled"});
    checkSame(both, traffic, "MN\r\n");
    checkSame(both, "stats detail dump\r\n", "END\r\n");
    checkSame(both, "stats detail off\r\nget a#1\r\nstats detail dump\r\nmn\r\n", "MN\r\n");
    checkSettings(both, {"detail_enabled"});
    const std::string binary_dump = binaryPacket(binary::kStat, "detail dump");
    {
      RawClient theirs(both.memcached.port());
      RawClient ours(both.spoold.port());
      theirs.send(binary_dump);
      ours.send(binary_dump);
      // A "detailed" STAT holding the text dump, then the empty terminating
      // STAT, whose header ends with the opaque and a zero CAS.
      const std::string end = std::string("\xde\xad\xbe\xef") + std::string(8, '\0');
      const std::string expected = theirs.readUntilContains("END\r\n", end);
      CHECK(expected.find("detailedPREFIX") != std::string::npos);
      CHECK(ours.readUntilContains("END\r\n", end) == expected);
    }
    checkSame(both, "stats reset\r\nstats detail dump\r\nmn\r\n", "MN\r\n");
  }
  SECTION("stats detail on without -D, the default ':' delimiter") {
    BothServers both({});
    checkSame(both,
              "stats detail on\r\nset p:1 0 0 1\r\nx\r\nget p:1 q:1\r\nstats detail dump\r\nmn\r\n",
              "MN\r\n");
    checkSame(both, "stats detail dump\r\n", "END\r\n");
  }
  SECTION("a text delete counts, found or not; incr, decr and md do not") {
    BothServers both({"-D", ":"});
    checkSame(both, "set p:1 0 0 1\r\n1\r\nincr p:1 1\r\ndecr p:1 1\r\nstats detail dump\r\nmn\r\n",
              "MN\r\n");
    checkSame(both,
              "delete p:1\r\ndelete p:1\r\ndelete q:1 0\r\ndelete r:1 noreply\r\ndelete s:1 5\r\n"
              "ms t:1 1\r\nx\r\nmd t:1\r\nstats detail dump\r\nmn\r\n",
              "MN\r\n");
  }
}

TEST_CASE("stats settings has every key memcached's has", "[flags][differential]") {
  // Not here: num_threads_per_udp (no UDP), and `oldest` (flush_all's time
  // in memcached's clock).
  const std::set<std::string> elsewhere{"num_threads_per_udp", "oldest"};
  BothServers both({});
  const auto ours = statsOf(both.spoold.port(), "settings");
  for (const auto& [key, value] : statsOf(both.memcached.port(), "settings")) {
    INFO(key);
    CHECK((ours.count(key) == 1 || elsewhere.count(key) == 1));
  }
}

TEST_CASE("memcached's -o tuning sub-options are reported in stats settings as memcached does",
          "[flags][differential]") {
  const std::vector<std::string> keys{
      "maxconns_fast",        "hashpower_init",      "slab_reassign",
      "slab_automove",        "slab_automove_ratio", "slab_automove_window",
      "lru_crawler",          "lru_crawler_sleep",   "lru_crawler_tocrawl",
      "tail_repair_time",     "hash_algorithm",      "lru_maintainer_thread",
      "lru_segmented",        "hot_lru_pct",         "warm_lru_pct",
      "hot_max_factor",       "warm_max_factor",     "temp_lru",
      "temporary_ttl",        "idle_timeout",        "watcher_logbuf_size",
      "worker_logbuf_size",   "read_buf_mem_limit",  "track_sizes",
      "inline_ascii_response"};
  SECTION("defaults") {
    BothServers both({});
    checkSettings(both, keys);
  }
  SECTION("every tuning knob changed") {
    BothServers both({"-o",
                      "hashpower=20,tail_repair_time=30,hash_algorithm=xxh3,lru_crawler_sleep=50,"
                      "lru_crawler_tocrawl=7,hot_lru_pct=10,warm_lru_pct=30,"
                      "hot_max_factor=0.5,warm_max_factor=1.5,temporary_ttl=30,no_slab_reassign,"
                      "slab_automove=2,slab_automove_ratio=0.5,slab_automove_window=10,"
                      "watcher_logbuf_size=128,worker_logbuf_size=128,read_buf_mem_limit=2,modern,"
                      "no_inline_ascii_resp,no_hashexpand,maxconns_fast,no_chunked_items"});
    checkSettings(both, keys);
  }
  SECTION("no LRU maintainer, no slab mover") {
    BothServers both({"-o", "no_lru_maintainer,no_slab_automove,resp_obj_mem_limit=1"});
    checkSettings(both, keys);
  }
}

/// One memcached 1.6.18 flag set that memcached starts with, the `stats
/// settings` keys it shows in, and whether spoold says at -v that it has no
/// effect here.
struct AcceptedFlags {
  std::vector<std::string> flags;
  std::vector<std::string> keys;
  bool no_effect;
};

/// Every -o sub-option of memcached 1.6.18 (Debian's build: TLS, extstore,
/// sock_cookie_id; no proxy) that spoold does not refuse by name, and the
/// short flags that change only memcached's internals.
const std::vector<AcceptedFlags> kAcceptedFlags{
    {{"-o", "maxconns_fast"}, {"maxconns_fast"}, false},
    {{"-o", "hashpower=20"}, {"hashpower_init"}, true},
    {{"-o", "no_hashexpand"}, {}, true},
    {{"-o", "slab_reassign"}, {"slab_reassign"}, true},
    {{"-o", "no_slab_reassign"}, {"slab_reassign"}, true},
    {{"-o", "slab_automove=2"}, {"slab_automove"}, true},
    {{"-o", "no_slab_automove,slab_automove"}, {"slab_automove"}, true},
    {{"-o", "no_slab_automove"}, {"slab_automove"}, true},
    {{"-o", "slab_automove_ratio=0.5"}, {"slab_automove_ratio"}, true},
    {{"-o", "slab_automove_window=10"}, {"slab_automove_window"}, true},
    {{"-o", "tail_repair_time=30"}, {"tail_repair_time"}, true},
    {{"-o", "hash_algorithm=jenkins"}, {"hash_algorithm"}, true},
    {{"-o", "lru_crawler"}, {"lru_crawler"}, false},
    {{"-o", "no_lru_crawler"}, {"lru_crawler"}, false},
    {{"-o", "lru_crawler_sleep=50"}, {"lru_crawler_sleep"}, true},
    {{"-o", "lru_crawler_tocrawl=7"}, {"lru_crawler_tocrawl"}, true},
    {{"-o", "lru_maintainer"}, {"lru_maintainer_thread", "lru_segmented"}, false},
    {{"-o", "no_lru_maintainer"}, {"lru_maintainer_thread", "lru_segmented"}, false},
    {{"-o", "hot_lru_pct=10"}, {"hot_lru_pct"}, true},
    {{"-o", "warm_lru_pct=30"}, {"warm_lru_pct"}, true},
    {{"-o", "hot_max_factor=0.5"}, {"hot_max_factor"}, true},
    {{"-o", "warm_max_factor=1.5"}, {"warm_max_factor"}, true},
    {{"-o", "temporary_ttl=30"}, {"temp_lru", "temporary_ttl"}, true},
    {{"-o", "idle_timeout=30"}, {"idle_timeout"}, false},
    {{"-o", "watcher_logbuf_size=128"}, {"watcher_logbuf_size"}, false},
    {{"-o", "worker_logbuf_size=128"}, {"worker_logbuf_size"}, true},
    {{"-o", "slab_chunk_max=262144"}, {"slab_chunk_max", "item_size_max"}, true},
    {{"-o", "slab_chunk_max=256"}, {"slab_chunk_max"}, true},
    {{"-o", "no_inline_ascii_resp"}, {"inline_ascii_response"}, true},
    {{"-o", "inline_ascii_resp"}, {"inline_ascii_response"}, true},
    {{"-o", "modern"}, {}, true},
    {{"-o", "no_modern"},
     {"slab_chunk_max", "slab_reassign", "slab_automove", "lru_crawler", "hash_algorithm",
      "lru_maintainer_thread", "lru_segmented"},
     true},
    {{"-o", "no_chunked_items"}, {"slab_chunk_max"}, true},
    {{"-o", "drop_privileges"}, {}, true},
    {{"-o", "no_drop_privileges"}, {}, true},
    {{"-o", "resp_obj_mem_limit=1"}, {}, true},
    {{"-o", "read_buf_mem_limit=2"}, {"read_buf_mem_limit"}, true},
    {{"-o", "ssl_wbuf_size=32"}, {"ssl_wbuf_size"}, true},
    {{"-o", "ssl_kernel_tls"}, {"ssl_kernel_tls"}, true},
    {{"-o", "ssl_session_cache"}, {"ssl_session_cache"}, false},
    {{"-o", "ssl_verify_mode=1,ssl_keyformat=1"}, {"ssl_verify_mode", "ssl_keyformat"}, false},
    {{"-o", "ssl_min_version=3"}, {}, false},  // memcached reports it only with -Z
    {{"-o", "ssl_ciphers=HIGH"}, {"ssl_ciphers"}, false},
    {{"-o", "ext_page_size=32,ext_threads=2,ext_io_depth=2"}, {}, true},
    {{"-o", "ext_wbuf_size=8"}, {"ext_wbuf_size"}, true},
    {{"-o", "ext_item_size=100,ext_item_age=60,ext_low_ttl=5,ext_recache_rate=100"},
     {"ext_item_size", "ext_item_age", "ext_low_ttl", "ext_recache_rate"},
     true},
    {{"-o", "ext_compact_under=3,ext_drop_under=2,ext_max_sleep=500,ext_max_frag=0.5"},
     {"ext_compact_under", "ext_drop_under", "ext_max_sleep", "ext_max_frag"},
     true},
    {{"-o", "ext_drop_unread,slab_automove_freeratio=0.02"},
     {"ext_drop_unread", "slab_automove_freeratio"},
     true},
    {{"-I", "2m"}, {"item_size_max", "slab_chunk_max"}, false},
    {{"-I", "1536k"}, {"item_size_max", "slab_chunk_max"}, false},
    {{"-I", "1k", "-o", "slab_chunk_max=1024"}, {"item_size_max", "slab_chunk_max"}, true},
    {{"-L"}, {}, true},
    // memcached 1.6.18 prints num_napi_ids with %s: `stats settings` after
    // -N crashes it. spoold reports the number.
    {{"-N", "2"}, {}, true},
    {{"-b", "2048"}, {"tcp_backlog"}, false},
};

TEST_CASE("every flag memcached 1.6.18 starts with starts spoold and reads as memcached's",
          "[flags][differential]") {
  for (const AcceptedFlags& row : kAcceptedFlags) {
    INFO(row.flags.front() << " " << row.flags.back());
    const Settings s = settingsFor(row.flags);
    CHECK(s.no_effect.empty() == !row.no_effect);
    for (const std::string& line : s.no_effect) {
      CHECK(line.find(": no effect in spoold") != std::string::npos);
    }
    if (!row.keys.empty()) {
      BothServers both(row.flags);
      checkSettings(both, row.keys);
    }
  }
}

}  // namespace spoold::test
