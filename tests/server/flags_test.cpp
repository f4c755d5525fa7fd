// memcached 1.6.18's command-line flags, in process: spoold parses the same
// flags as memcached, and the two must answer the same bytes and report the
// same `stats settings`.
#include <catch2/catch.hpp>

#include <map>
#include <sstream>
#include <string>
#include <vector>

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
  const std::string text = client.roundTrip("stats" + (group.empty() ? "" : " " + group) + "\r\n", "END\r\n");
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

}  // namespace

TEST_CASE("memcached's -o tuning sub-options are reported in stats settings as memcached does",
          "[flags][differential]") {
  const std::vector<std::string> keys{
      "maxconns_fast", "hashpower_init", "slab_reassign", "slab_automove", "slab_automove_ratio",
      "slab_automove_window", "lru_crawler", "lru_crawler_sleep", "lru_crawler_tocrawl", "tail_repair_time",
      "hash_algorithm", "lru_maintainer_thread", "lru_segmented", "hot_lru_pct", "warm_lru_pct",
      "hot_max_factor", "warm_max_factor", "temp_lru", "temporary_ttl", "idle_timeout", "watcher_logbuf_size",
      "worker_logbuf_size", "read_buf_mem_limit", "track_sizes", "inline_ascii_response"};
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

}  // namespace spoold::test
