// The protocol engines and the store, without sockets.
#include <catch2/catch.hpp>

#include <array>
#include <cstdio>
#include <ctime>
#include <map>
#include <sstream>
#include <string>

#include "base64.h"
#include "binary_codec.h"
#include "binary_packets.h"
#include "item_table.h"
#include "numbers.h"
#include "options.h"
#include "server_context.h"
#include "session.h"
#include "text_parser.h"

namespace spoold {
namespace {

/// Feeds `input` to a session as a connection would (unconsumed bytes stay
/// at the front), `piece` bytes at a time, and returns everything it wrote.
struct Harness {
  explicit Harness(Settings settings = {}) : ctx(settings), session(ctx) {}

  std::string feed(std::string_view input, std::size_t piece = 0) {
    if (piece == 0) {
      piece = input.size();
    }
    std::string out_text;
    for (std::size_t i = 0; i < input.size() && !closed; i += piece) {
      pending.append(input.substr(i, piece));
      drain(out_text);
    }
    return out_text;
  }

  void drain(std::string& out_text) {
    for (;;) {
      Output out;
      const Session::Result r = session.process(pending, out);
      out_text.append(out.view());
      pending.erase(0, r.consumed);
      if (r.action == Action::kClose) {
        closed = true;
        action = r.action;
        return;
      }
      if (r.action == Action::kMetadump) {
        action = r.action;
      }
      if (r.need_more || pending.empty()) {
        return;
      }
    }
  }

  ServerContext ctx;
  Session session;
  std::string pending;
  bool closed = false;
  Action action = Action::kNone;
};

std::string binaryRequest(std::uint8_t opcode, std::string_view key = {}, std::string_view value = {},
                          std::string_view extras = {}) {
  return test::binaryPacket(opcode, key, value, extras);
}

std::string setExtras(std::uint32_t flags, std::uint32_t exptime) { return test::u32s({flags, exptime}); }

constexpr std::int64_t kThirtyDays = 60 * 60 * 24 * 30;

/// The item's expiration time (relative to the server clock), or -1 when
/// `key` is missing or expired. Does not bump the item.
std::int64_t expiresAt(ServerContext& ctx, std::string_view key) {
  std::int64_t exptime = -1;
  ctx.store.lookup(key, LookupOptions{false, false, 0, ClassCounter::kCount},
                   [&](Item& item) { exptime = item.exptime; });
  return exptime;
}

/// Seconds left before `key` expires (a relative time set moments ago may
/// have lost one second to a clock tick since).
std::int64_t secondsLeft(ServerContext& ctx, std::string_view key) {
  return expiresAt(ctx, key) - ctx.clock.now();
}

/// The server-clock time of the unix time `unix_time`, as memcached's realtime().
std::int64_t absolute(const ServerContext& ctx, std::int64_t unix_time) {
  return unix_time - ctx.clock.started();
}

}  // namespace

TEST_CASE("tokenizer splits on spaces with memcached's token limit", "[server][parser]") {
  const Tokens t = tokenize("get  a b ");
  REQUIRE(t.count == 3);
  CHECK(t[0] == "get");
  CHECK(t[2] == "b");
  CHECK(t.rest.empty());
  std::string many = "get";
  for (int i = 0; i < 30; ++i) {
    many += " k" + std::to_string(i);
  }
  const Tokens m = tokenize(many);
  CHECK(m.count == Tokens::kMaxTokens - 1);
  CHECK(m.rest.starts_with("k22"));
  CHECK(tokenize("set a 0 0 1 noreply").lastIsNoreply());
}

TEST_CASE("numbers follow memcached's safe_strto* rules", "[server][parser]") {
  std::uint32_t u32 = 0;
  std::int32_t i32 = 0;
  std::uint64_t u64 = 0;
  CHECK(parseU32("99999999999", u32));  // accepted and truncated, as on 64-bit memcached
  CHECK_FALSE(parseU32("-1", u32));
  CHECK_FALSE(parseU32("12abc", u32));
  CHECK(parseI32("-5", i32));
  CHECK(i32 == -5);
  // 1.6.18's safe_strtol: a 64-bit strtol stored into an int32_t.
  CHECK(parseI32("2147483648", i32));
  CHECK(i32 == INT32_MIN);
  CHECK(parseI32("4294967297", i32));
  CHECK(i32 == 1);
  CHECK(parseI32("-4294967297", i32));
  CHECK(i32 == -1);
  CHECK(parseI32("-9223372036854775808", i32));
  CHECK(i32 == 0);
  CHECK_FALSE(parseI32("9223372036854775808", i32));
  CHECK_FALSE(parseI32("-9223372036854775809", i32));
  CHECK_FALSE(parseU64("18446744073709551616", u64));
  CHECK(parseU64("18446744073709551615", u64));
  CHECK(parseU64("7 ", u64));  // trailing space: incr of a padded value
  CHECK_FALSE(parseU64("", u64));
}

TEST_CASE("text protocol: storage and retrieval", "[server][text]") {
  Harness h;
  CHECK(h.feed("set a 5 0 3\r\nabc\r\nget a b\r\n") == "STORED\r\nVALUE a 5 3\r\nabc\r\nEND\r\n");
  CHECK(h.feed("add a 0 0 1\r\nx\r\nreplace zz 0 0 1\r\nx\r\n") == "NOT_STORED\r\nNOT_STORED\r\n");
  CHECK(h.feed("append a 0 0 1\r\nd\r\nprepend a 0 0 1\r\n_\r\nget a\r\n") ==
        "STORED\r\nSTORED\r\nVALUE a 5 5\r\n_abcd\r\nEND\r\n");
  const std::string gets = h.feed("gets a\r\n");
  const std::string cas = gets.substr(std::string_view("VALUE a 5 5 ").size(),
                                      gets.find("\r\n") - std::string_view("VALUE a 5 5 ").size());
  CHECK(h.feed("cas a 0 0 1 " + cas + "\r\nz\r\ncas a 0 0 1 " + cas + "\r\nz\r\n") == "STORED\r\nEXISTS\r\n");
  CHECK(h.feed("cas nokey 0 0 1 1\r\nz\r\n") == "NOT_FOUND\r\n");
  CHECK(h.feed("set q 0 0 1 noreply\r\nq\r\ndelete q noreply\r\nget q\r\n") == "END\r\n");
}

TEST_CASE("text protocol: arithmetic, touch, delete, flush", "[server][text]") {
  Harness h;
  CHECK(h.feed("set n 0 0 2\r\n10\r\ndecr n 1\r\nget n\r\n") == "STORED\r\n9\r\nVALUE n 0 2\r\n9 \r\nEND\r\n");
  CHECK(h.feed("incr n 18446744073709551615\r\n") == "8\r\n");  // wraps at 2^64
  CHECK(h.feed("decr n 100\r\n") == "0\r\n");
  CHECK(h.feed("incr nokey 1\r\nincr n x\r\n") == "NOT_FOUND\r\nCLIENT_ERROR invalid numeric delta argument\r\n");
  CHECK(h.feed("set s 0 0 1\r\nx\r\nincr s 1\r\n") ==
        "STORED\r\nCLIENT_ERROR cannot increment or decrement non-numeric value\r\n");
  CHECK(h.feed("touch n 100\r\ntouch zz 1\r\n") == "TOUCHED\r\nNOT_FOUND\r\n");
  CHECK(h.feed("delete n\r\ndelete n\r\ndelete n 5\r\n") ==
        "DELETED\r\nNOT_FOUND\r\nCLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n");
  CHECK(h.feed("flush_all\r\nget s\r\nflush_all x\r\n") == "OK\r\nEND\r\nCLIENT_ERROR invalid exptime argument\r\n");
}

TEST_CASE("text protocol: errors match memcached", "[server][text]") {
  Harness h;
  const std::string long_key(251, 'k');
  CHECK(h.feed("bogus\r\nget\r\nset a 0\r\n") == "ERROR\r\nERROR\r\nERROR\r\n");
  CHECK(h.feed("set a 0 0 -1\r\nset a 0 0 abc\r\n") ==
        "CLIENT_ERROR bad command line format\r\nCLIENT_ERROR bad command line format\r\n");
  CHECK(h.feed("get " + long_key + "\r\n") == "CLIENT_ERROR bad command line format\r\n");
  CHECK(h.feed("set " + long_key + " 0 0 1\r\nx\r\n") == "CLIENT_ERROR bad command line format\r\nERROR\r\n");
  SECTION("a value longer than announced") {
    CHECK(h.feed("set a 0 0 2\r\nxyz\r\nget a\r\n") == "CLIENT_ERROR bad data chunk\r\nERROR\r\nEND\r\n");
  }
  SECTION("a value over the item size limit is refused and skipped without buffering it") {
    const std::string big(2u << 20, 'x');
    CHECK(h.feed("set big 0 0 " + std::to_string(big.size()) + "\r\n" + big + "\r\nget big\r\n", 4096) ==
          "SERVER_ERROR object too large for cache\r\nEND\r\n");
    CHECK(h.pending.empty());
  }
  SECTION("a long line without a newline closes the connection unless it is a get") {
    h.feed(std::string(1u << 20, 'x'));
    CHECK(h.action == Action::kClose);
    Harness g;
    g.feed("get " + std::string(8000, 'k'));
    CHECK_FALSE(g.closed);
  }
  SECTION("quit closes") {
    h.feed("quit\r\n");
    CHECK(h.action == Action::kClose);
  }
}

TEST_CASE("text protocol: any segmentation gives the same bytes", "[server][text]") {
  const std::string script =
      "set a 0 0 5\r\nhello\r\nget a\r\nincr x 1\r\nset x 0 0 1\r\n1\r\nincr x 41\r\n"
      "mg a v t f\r\nms b 3 T0\r\nabc\r\nmn\r\ngets nope a\r\n";
  Harness whole;
  const std::string expected = whole.feed(script);
  for (const std::size_t piece : {1u, 2u, 3u, 7u, 64u}) {
    Harness split;
    CHECK(split.feed(script, piece) == expected);
  }
}

TEST_CASE("meta commands", "[server][meta]") {
  Harness h;
  CHECK(h.feed("ms k 2 F7 T0\r\nhi\r\nmg k v f s k O123\r\n") == "HD\r\nVA 2 f7 s2 kk O123\r\nhi\r\n");
  CHECK(h.feed("mg nokey v\r\nmg nokey v q\r\nmn\r\n") == "EN\r\nMN\r\n");
  CHECK(h.feed("ms k 1 MA\r\n!\r\nmg k v\r\n") == "HD\r\nVA 3\r\nhi!\r\n");
  CHECK(h.feed("ms k 1 ME\r\nx\r\nms zz 1 MR\r\nx\r\nms k 1 Mx\r\nx\r\n") ==
        "NS\r\nNS\r\nCLIENT_ERROR invalid mode for ms M token\r\n");
  CHECK(h.feed("md k q\r\nmd k\r\nmd k q\r\n") == "NF\r\nNF\r\n");
  CHECK(h.feed("ma c\r\nma c N0 J10 v\r\nma c D5 v\r\nma c MD D100 v\r\n") ==
        "NF\r\nVA 2\r\n10\r\nVA 2\r\n15\r\nVA 1\r\n0\r\n");
  CHECK(h.feed("mg k zz\r\nmg k v v\r\nmg\r\n") ==
        "CLIENT_ERROR invalid flag\r\nCLIENT_ERROR duplicate flag\r\nERROR\r\n");
  SECTION("base64 keys decode as memcached's lenient decoder") {
    std::string key;
    CHECK(base64Decode("YQ==YQ==", key));
    CHECK(key == "a");
    CHECK(base64Decode("Zm9v\x01!", key));  // bytes outside the alphabet are skipped
    CHECK(key == "foo");
    CHECK(base64Decode("Y=Q=", key));
    CHECK(key.size() == 1);
    CHECK_FALSE(base64Decode("Zm9", key));
    CHECK_FALSE(base64Decode("====", key));
    CHECK_FALSE(base64Decode("!!", key));
    CHECK(h.feed("ms Zm9v 1 b\r\nx\r\nmg YQ==YQ== b\r\nmg Zm9v!! b v\r\n") == "HD\r\nEN\r\nVA 1\r\nx\r\n");
  }
  SECTION("base64 keys") {
    CHECK(h.feed("ms Zm9v 1 b\r\nx\r\nmg foo v\r\nmg Zm9v b k v\r\n") == "HD\r\nVA 1\r\nx\r\nVA 1 kZm9v b\r\nx\r\n");
  }
  SECTION("vivify and win tokens") {
    // The TTL is the item's expiry minus the clock's now(), read twice within
    // the first command: compare it only from a run that stayed within one
    // second of std::time (the clock's source), so a tick between the two
    // reads cannot turn t30 into t29. Each run uses a fresh session.
    std::string reply;
    for (int run = 0; run < 5; ++run) {
      Harness fresh;
      const std::time_t before = std::time(nullptr);
      reply = fresh.feed("mg new N30 v t\r\nmg new N30 v\r\n");
      if (std::time(nullptr) == before) {
        break;
      }
    }
    CHECK(reply == "VA 0 t30 W\r\n\r\nVA 0 Z\r\n\r\n");
  }
}

TEST_CASE("text expiration times: relative up to 30 days, absolute after, 32-bit wrap",
          "[server][text]") {
  Harness h;
  CHECK(h.feed("set rel 0 2592000 1\r\nx\r\nset abs 0 2592001 1\r\nx\r\nset neg 0 -1 1\r\nx\r\n") ==
        "STORED\r\nSTORED\r\nSTORED\r\n");
  CHECK(secondsLeft(h.ctx, "rel") >= kThirtyDays - 1);
  CHECK(secondsLeft(h.ctx, "rel") <= kThirtyDays);
  CHECK(expiresAt(h.ctx, "abs") == -1);  // 30 days + 1 second after 1970: long gone
  CHECK(expiresAt(h.ctx, "neg") == -1);
  // memcached keeps the low 32 bits: 2^32 + 100 is 100 seconds, 2^31 is negative.
  CHECK(h.feed("set wrap 0 4294967396 1\r\nx\r\nset big 0 2147483648 1\r\nx\r\n"
               "set max 0 2147483647 1\r\nx\r\nset keep 0 0 1\r\nx\r\n") ==
        "STORED\r\nSTORED\r\nSTORED\r\nSTORED\r\n");
  CHECK(secondsLeft(h.ctx, "wrap") <= 100);
  CHECK(secondsLeft(h.ctx, "wrap") >= 99);
  CHECK(expiresAt(h.ctx, "big") == -1);
  CHECK(expiresAt(h.ctx, "max") == absolute(h.ctx, 0x7fffffff));
  CHECK(h.feed("touch max -1\r\ntouch rel 4294967396\r\ngat 2592001 keep\r\n") ==
        "TOUCHED\r\nTOUCHED\r\nVALUE keep 0 1\r\nx\r\nEND\r\n");
  CHECK(expiresAt(h.ctx, "max") == -1);
  CHECK(secondsLeft(h.ctx, "rel") <= 100);
  CHECK(secondsLeft(h.ctx, "rel") >= 99);
  CHECK(expiresAt(h.ctx, "keep") == -1);
}

TEST_CASE("meta T and N flags read expiration times as memcached", "[server][meta]") {
  Harness h;
  CHECK(h.feed("ms rel 1 T2592000\r\nx\r\nms abs 1 T2592001\r\nx\r\nms neg 1 T-1\r\nx\r\n"
               "ms wrap 1 T4294967396\r\nx\r\nms big 1 T2147483648\r\nx\r\nms max 1 T2147483647\r\nx\r\n"
               "ms keep 1\r\nx\r\n") == "HD\r\nHD\r\nHD\r\nHD\r\nHD\r\nHD\r\nHD\r\n");
  CHECK(secondsLeft(h.ctx, "rel") >= kThirtyDays - 1);
  CHECK(expiresAt(h.ctx, "abs") == -1);
  CHECK(expiresAt(h.ctx, "neg") == -1);
  CHECK(secondsLeft(h.ctx, "wrap") <= 100);
  CHECK(expiresAt(h.ctx, "big") == -1);
  CHECK(expiresAt(h.ctx, "max") == absolute(h.ctx, 0x7fffffff));
  CHECK(h.feed("mg max T-1\r\nmg rel T2147483648\r\nmg keep T2592000\r\nmg new N4294967396 q\r\nmn\r\n") ==
        "HD\r\nHD\r\nHD\r\nHD W\r\nMN\r\n");
  CHECK(expiresAt(h.ctx, "max") == -1);
  CHECK(expiresAt(h.ctx, "rel") == -1);
  CHECK(secondsLeft(h.ctx, "keep") >= kThirtyDays - 1);
  CHECK(secondsLeft(h.ctx, "new") >= 99);
  CHECK(secondsLeft(h.ctx, "new") <= 100);
}

TEST_CASE("a meta error consumes exactly its line, never bytes of the next", "[server][meta]") {
  std::string flags;
  for (int i = 1; i <= 25; ++i) {
    flags += " " + std::to_string(i);
  }
  const std::string too_long = "CLIENT_ERROR options flags too long\r\n";
  const std::size_t piece = GENERATE(0, 1);
  Harness h;
  // Errors found before the value's length is known skip no value.
  CHECK(h.feed("ms ri 1" + flags + "\r\nmn\r\nmn\r\n", piece) == too_long + "MN\r\nMN\r\n");
  CHECK(h.feed("ms ri 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18\r\nmn\r\n", piece) ==
        too_long + "MN\r\n");
  CHECK(h.feed("ms ri abc T1\r\nmn\r\nms ri -1\r\nmn\r\nms ri\r\nmn\r\n", piece) ==
        "CLIENT_ERROR bad command line format\r\nMN\r\nCLIENT_ERROR bad command line format\r\nMN\r\n"
        "CLIENT_ERROR bad command line format\r\nMN\r\n");
  CHECK(h.feed("mg ri" + flags + "\r\nmd ri" + flags + "\r\nma ri" + flags + "\r\nmn" + flags + "\r\n",
               piece) ==
        "CLIENT_ERROR options flags are too long\r\n" + too_long + too_long + "MN\r\n");
  // Errors found once the length is known skip the value, as memcached does.
  CHECK(h.feed("ms ri 2 Mx\r\nmn\r\nmn\r\nms ri 2 q zz\r\nmn\r\nmn\r\n", piece) ==
        "CLIENT_ERROR invalid mode for ms M token\r\nMN\r\nCLIENT_ERROR invalid flag\r\nMN\r\n");
}

TEST_CASE("binary expiration is unsigned: past 2038 is a date, not the past", "[server][binary]") {
  Harness h;
  using namespace binary;
  std::string sets;
  for (const auto& [key, exptime] : std::map<std::string, std::uint32_t>{
           {"rel", 2592000}, {"abs", 2592001}, {"max", 0x7fffffff}, {"b31", 0x80000000u}, {"all", 0xffffffffu}}) {
    sets += binaryRequest(kSetQ, key, "v", setExtras(0, exptime));
  }
  CHECK(h.feed(sets + binaryRequest(kNoop)).size() == 24);  // quiet sets: only the NOOP answers
  CHECK(secondsLeft(h.ctx, "rel") >= kThirtyDays - 1);
  CHECK(expiresAt(h.ctx, "abs") == -1);
  CHECK(expiresAt(h.ctx, "max") == absolute(h.ctx, 0x7fffffff));
  CHECK(expiresAt(h.ctx, "b31") == absolute(h.ctx, 0x80000000u));
  CHECK(expiresAt(h.ctx, "all") == absolute(h.ctx, 0xffffffffu));
  SECTION("touch, gat and incr carry the same field") {
    h.feed(binaryRequest(kTouch, "rel", "", test::u32s({0xffffffffu})) +
           binaryRequest(kGatQ, "abs", "", test::u32s({0x80000000u})) +
           binaryRequest(kSetQ, "abs", "v", setExtras(0, 0)) + binaryRequest(kGatQ, "abs", "", test::u32s({0x80000000u})) +
           binaryRequest(kIncrementQ, "n", "", test::incrExtras(1, 5, 0x80000000u)) +
           binaryRequest(kTouch, "max", "", test::u32s({2592001})));
    CHECK(expiresAt(h.ctx, "rel") == absolute(h.ctx, 0xffffffffu));
    CHECK(expiresAt(h.ctx, "abs") == absolute(h.ctx, 0x80000000u));
    CHECK(expiresAt(h.ctx, "n") == absolute(h.ctx, 0x80000000u));
    CHECK(expiresAt(h.ctx, "max") == -1);
  }
}

TEST_CASE("binary protocol", "[server][binary]") {
  Harness h;
  using namespace binary;
  std::string out = h.feed(binaryRequest(kSet, "k", "v", setExtras(9, 0)) + binaryRequest(kGetK, "k") +
                           binaryRequest(kGetQ, "nokey") + binaryRequest(kNoop));
  REQUIRE(out.size() == 24 + (24 + 4 + 1 + 1) + 24);
  Header set = decodeHeader(out);
  CHECK(out[0] == static_cast<char>(kResponseMagic));
  CHECK(set.vbucket == kSuccess);  // the status field of a response
  CHECK(set.cas != 0);
  const std::string_view get = std::string_view(out).substr(24);
  CHECK(get[1] == static_cast<char>(kGetK));
  CHECK(readU32(get.data() + 24) == 9);
  CHECK(get.substr(28, 2) == "kv");
  CHECK(decodeHeader(std::string_view(out).substr(54)).opcode == kNoop);

  SECTION("STAT groups match by prefix, as memcached's strncmp") {
    out = h.feed(binaryRequest(kStat, "settingsx"));
    CHECK(out.find("maxbytes") != std::string::npos);
    CHECK(out.find("Not found") == std::string::npos);
    out = h.feed(binaryRequest(kStat, "reset_bogus"));
    CHECK(out.size() == 24);  // the terminating empty stat only
    CHECK(decodeHeader(out).vbucket == kSuccess);
  }
  SECTION("errors carry memcached's messages") {
    out = h.feed(binaryRequest(kAdd, "k", "v", setExtras(0, 0)) + binaryRequest(kGet, "zz"));
    CHECK(out.substr(24, 20) == "Data exists for key.");
    CHECK(out.substr(68) == "Not found");
  }
  SECTION("a bad magic byte drops the connection") {
    std::string bad = binaryRequest(kNoop);
    h.feed(bad);
    bad[0] = 0x42;
    h.feed(bad);
    CHECK(h.action == Action::kClose);
  }
  SECTION("an absurd body length closes instead of swallowing") {
    std::string bad = binaryRequest(kSet, "k", "", setExtras(0, 0));
    writeU32(0xfffffff0u, bad.data() + 8);
    h.feed(bad);
    CHECK(h.action == Action::kClose);
  }
  SECTION("a key over 250 bytes is invalid") {
    out = h.feed(binaryRequest(kGet, std::string(251, 'k')));
    CHECK(out.substr(24) == "Invalid arguments");
    CHECK(h.action == Action::kClose);
  }
}

TEST_CASE("store: LRU eviction keeps memory under the limit", "[server][store]") {
  Clock clock;
  Store store(StoreLimits{1u << 20, 64u << 10}, clock);
  const std::string value(1000, 'v');
  for (int i = 0; i < 3000; ++i) {
    REQUIRE(store.store(StoreMode::kSet, "key" + std::to_string(i), value, 0, 0, 0) == StoreResult::kStored);
  }
  const StoreCounters c = store.counters();
  CHECK(c.bytes <= (1u << 20));
  CHECK(c.evictions > 0);
  CHECK(store.lookup("key2999", {}, [](Item&) {}));
  CHECK_FALSE(store.lookup("key0", {}, [](Item&) {}));
  CHECK(store.store(StoreMode::kSet, "big", std::string(70u << 10, 'x'), 0, 0, 0) == StoreResult::kTooLarge);
}

TEST_CASE("key hash spreads sequential keys over shards and slots", "[server][store]") {
  // Keys that differ only in their last digits, as most clients' do: both
  // the high bits (the store's shard) and the low bits (the table slot)
  // must spread evenly, or shards contend and probe runs grow.
  constexpr int kKeys = 4096;
  constexpr int kBuckets = 64;
  std::array<int, kBuckets> high{};
  std::array<int, kBuckets> low{};
  for (int i = 0; i < kKeys; ++i) {
    char key[32];
    std::snprintf(key, sizeof key, "k%015d", i);
    const std::uint64_t h = hashKey(key);
    ++high[h >> 58];
    ++low[h & (kBuckets - 1)];
  }
  // 64 per bucket expected; a fair hash stays well inside [32, 100].
  for (int b = 0; b < kBuckets; ++b) {
    INFO("bucket " << b);
    CHECK(high[b] > 32);
    CHECK(high[b] < 100);
    CHECK(low[b] > 32);
    CHECK(low[b] < 100);
  }
}

TEST_CASE("item table: inserts, finds, replaces and erases like a map", "[server][store]") {
  ItemTable table;
  std::map<std::string, const Item*> reference;
  std::uint64_t x = 88172645463325252ull;
  const auto next = [&x] {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
  };
  for (int round = 0; round < 20000; ++round) {
    const std::string key = "k" + std::to_string(next() % 3000);
    Item* found = table.find(key);
    const auto it = reference.find(key);
    REQUIRE((found != nullptr) == (it != reference.end()));
    switch (next() % 3) {
      case 0:
        if (found == nullptr) {
          ItemPtr item = makeItem(key, 0);
          reference[key] = item.get();
          table.insert(std::move(item));
        }
        break;
      case 1:
        if (found != nullptr) {
          ItemPtr fresh = makeItem(key, 1);
          reference[key] = fresh.get();
          CHECK(table.replace(*found, std::move(fresh)).get() == found);
        }
        break;
      default:
        if (found != nullptr) {
          CHECK(table.erase(*found).get() == found);
          reference.erase(key);
        }
        break;
    }
    REQUIRE(table.size() == reference.size());
  }
  for (const auto& [key, item] : reference) {
    REQUIRE(table.find(key) == item);
  }
}

TEST_CASE("store: expiration and delayed flush follow the clock", "[server][store]") {
  Clock clock;
  Store store(StoreLimits{}, clock);
  store.store(StoreMode::kSet, "short", "x", 0, clock.toRelative(10), 0);
  store.store(StoreMode::kSet, "forever", "x", 0, 0, 0);
  store.store(StoreMode::kSet, "absolute", "x", 0, clock.toRelative(clock.toUnix(clock.now()) + 100), 0);
  store.store(StoreMode::kSet, "past", "x", 0, clock.toRelative(-1), 0);
  CHECK_FALSE(store.lookup("past", {}, [](Item&) {}));
  clock.advance(11);
  CHECK_FALSE(store.lookup("short", {}, [](Item&) {}));
  CHECK(store.lookup("absolute", {}, [](Item&) {}));
  store.flushAll(clock.toRelative(5));
  CHECK(store.lookup("forever", {}, [](Item&) {}));
  clock.advance(6);
  CHECK_FALSE(store.lookup("forever", {}, [](Item&) {}));
  CHECK_FALSE(store.lookup("absolute", {}, [](Item&) {}));
  CHECK(store.counters().get_flushed == 2);
}

TEST_CASE("metadump class lists", "[server][parser]") {
  MetadumpRequest request;
  CHECK(parseMetadumpClasses("all", 40, request));
  CHECK(request.all);
  CHECK(parseMetadumpClasses("1,2,3", 40, request));
  CHECK(request.classes.size() == 3);
  CHECK_FALSE(parseMetadumpClasses("0", 40, request));
  CHECK_FALSE(parseMetadumpClasses("41", 40, request));
  CHECK_FALSE(parseMetadumpClasses("x", 40, request));
}

TEST_CASE("command line follows memcached's flags", "[server][options]") {
  std::ostringstream out;
  std::ostringstream err;
  const auto parse = [&](std::vector<std::string> args) {
    args.insert(args.begin(), "spoold");
    std::vector<char*> argv;
    for (auto& a : args) {
      argv.push_back(a.data());
    }
    argv.push_back(nullptr);
    return parseCommandLine(static_cast<int>(args.size()), argv.data(), out, err);
  };
  const CommandLine ok = parse({"-p", "12345", "-l", "::1", "-t", "3", "-m", "128", "-c", "10", "-I", "2m",
                                "-U", "0", "-vv", "--exec=workers", "--workers", "5"});
  REQUIRE(ok.run);
  CHECK(ok.settings.port == 12345);
  CHECK(ok.settings.memory_limit == (128u << 20));
  CHECK(ok.settings.item_size_max == (2u << 20));
  CHECK(ok.settings.verbose == 2);
  CHECK(ok.settings.exec == ExecMode::kWorkers);
  CHECK(ok.settings.workers == 5);
  CHECK(parse({"--exec=workers"}).settings.workers == 0);  // 0: workerCount() chooses
  CHECK(parse({"-o", "idle_timeout=30,no_lru_crawler"}).settings.idle_timeout == 30);
  CHECK(parse({"-o", "idle_timeout=x"}).exit_code == 2);
  CHECK(parse({"--bogus"}).exit_code == 2);
  CHECK(parse({"-p"}).exit_code == 2);
  CHECK(parse({"-t", "x"}).exit_code == 2);
  CHECK(parse({"-U", "11211"}).exit_code == 2);
  CHECK(parse({"-Z"}).exit_code == 2);  // TLS needs a certificate and a key
  CHECK(err.str().find("-Z needs") != std::string::npos);
  const CommandLine tls = parse({"-Z", "-o", "ssl_chain_cert=a.pem,ssl_key=b.pem,ssl_verify_mode=2,ssl_min_version=tlsv1.3"});
  REQUIRE(tls.run);
  CHECK(tls.settings.tls);
  CHECK(tls.settings.ssl_verify_mode == 2);
  CHECK(tls.settings.ssl_min_version == "tlsv1.3");
  CHECK(parse({"-o", "ssl_verify_mode=7"}).exit_code == 2);
  const CommandLine help = parse({"-h"});
  CHECK((!help.run && help.exit_code == 0));
  CHECK(out.str().find("--exec=inline|workers") != std::string::npos);
}

}  // namespace spoold
