// Real clients against spoold: libmemcached's tools (memccapable, memccp,
// memccat, memcrm, memcflush, memcstat, memcslap), Perl's
// Cache::Memcached::Fast, and nutcracker (twemproxy) in front of two spoolds.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "server_test_support.h"

namespace spoold::test {
namespace {

const char* name(ExecMode mode) { return mode == ExecMode::kInline ? "inline" : "workers"; }

/// A scratch directory removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "spoold-test-XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    path_ = pattern;
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }
  std::filesystem::path write(const std::string& file, const std::string& content) const {
    std::ofstream(path_ / file) << content;
    return path_ / file;
  }

 private:
  std::filesystem::path path_;
};

/// Runs a tool to completion and returns {exit code, output}.
std::pair<int, std::string> runTool(const std::vector<std::string>& argv) {
  ChildProcess child(argv);
  const int code = child.wait();
  return {code, child.output()};
}

}  // namespace

TEST_CASE("memccapable passes every ASCII and binary test", "[clients][memccapable]") {
  const std::string memccapable = requireProgram("memccapable", "libmemcached-tools");
  const ExecMode mode = GENERATE(ExecMode::kInline, ExecMode::kWorkers);
  INFO("exec=" << name(mode));
  TestServer server(mode, TestServer::defaults(mode));
  const auto [code, output] = runTool({memccapable, "-h", "127.0.0.1", "-p", std::to_string(server.port())});
  INFO(output);
  CHECK(code == 0);
  CHECK(output.find("All tests passed") != std::string::npos);
  CHECK(output.find("[FAIL]") == std::string::npos);
}

TEST_CASE("libmemcached's command-line tools work with and without --binary", "[clients][tools]") {
  const std::string memccp = requireProgram("memccp", "libmemcached-tools");
  const std::string memccat = requireProgram("memccat", "libmemcached-tools");
  const std::string memcrm = requireProgram("memcrm", "libmemcached-tools");
  const std::string memcflush = requireProgram("memcflush", "libmemcached-tools");
  const std::string memcstat = requireProgram("memcstat", "libmemcached-tools");
  const std::string memcslap = requireProgram("memcslap", "libmemcached-tools");
  const ExecMode mode = GENERATE(ExecMode::kInline, ExecMode::kWorkers);
  const bool use_binary = GENERATE(false, true);
  INFO("exec=" << name(mode) << " binary=" << use_binary);
  TestServer server(mode, TestServer::defaults(mode));
  TempDir dir;
  const std::string content = "spool carries this file\nline two\n";
  const auto file = dir.write("payload.txt", content);
  const std::string servers = "--servers=127.0.0.1:" + std::to_string(server.port());
  const auto tool = [&](std::vector<std::string> argv) {
    argv.insert(argv.begin() + 1, servers);
    if (use_binary) {
      argv.insert(argv.begin() + 1, "--binary");
    }
    return runTool(argv);
  };

  auto [cp_code, cp_out] = tool({memccp, file.string()});
  INFO(cp_out);
  CHECK(cp_code == 0);
  auto [cat_code, cat_out] = tool({memccat, "payload.txt"});
  CHECK(cat_code == 0);
  CHECK(cat_out.starts_with(content));  // memccat ends with a newline of its own
  auto [stat_code, stat_out] = tool({memcstat});
  CHECK(stat_code == 0);
  CHECK(stat_out.find("curr_items: 1") != std::string::npos);
  auto [rm_code, rm_out] = tool({memcrm, "payload.txt"});
  CHECK(rm_code == 0);
  auto [gone_code, gone_out] = tool({memccat, "payload.txt"});
  CHECK(gone_code != 0);
  tool({memccp, file.string()});
  auto [flush_code, flush_out] = tool({memcflush});
  CHECK(flush_code == 0);
  CHECK(tool({memccat, "payload.txt"}).first != 0);
  auto [slap_code, slap_out] = tool({memcslap, "--concurrency=2", "--execute-number=500", "--test=set"});
  INFO(slap_out);
  CHECK(slap_code == 0);
  CHECK(tool({memcslap, "--concurrency=2", "--execute-number=500", "--test=get"}).first == 0);
}

TEST_CASE("Perl's Cache::Memcached::Fast", "[clients][perl]") {
  const std::string perl = requireProgram("perl", "perl");
  const ExecMode mode = GENERATE(ExecMode::kInline, ExecMode::kWorkers);
  INFO("exec=" << name(mode));
  TestServer server(mode, TestServer::defaults(mode));
  TempDir dir;
  const auto script = dir.write("client.pl", R"PERL(
use strict;
use warnings;
my $ok = eval { require Cache::Memcached::Fast; 1 };
unless ($ok) { print "MISSING Cache::Memcached::Fast (apt-get install libcache-memcached-fast-perl)\n"; exit 3; }
my $m = Cache::Memcached::Fast->new({ servers => ["127.0.0.1:$ARGV[0]"] });
sub check { my ($what, $cond) = @_; unless ($cond) { print "FAIL $what\n"; exit 1; } }
check("set", $m->set("greeting", "hello"));
check("get", ($m->get("greeting") // "") eq "hello");
check("add existing", !$m->add("greeting", "x"));
check("append", $m->append("greeting", " world"));
check("get appended", ($m->get("greeting") // "") eq "hello world");
check("set counter", $m->set("n", 10));
check("incr", $m->incr("n", 5) == 15);
check("decr", $m->decr("n", 20) == 0);
my $big = "x" x 200000;
check("set big", $m->set("big", $big));
check("get big", ($m->get("big") // "") eq $big);
my $stored = $m->set_multi(map { ["k$_", "v$_"] } 1..50);
check("set_multi", scalar(grep { $_ } values %$stored) == 50);
my $got = $m->get_multi(map { "k$_" } 1..50);
check("get_multi", scalar(keys %$got) == 50 && $got->{k7} eq "v7");
my $g = $m->gets("greeting");
check("gets", defined $g && ref $g eq "ARRAY");
check("cas", $m->cas("greeting", @$g[0], "swapped"));
check("cas stale", !$m->cas("greeting", @$g[0], "again"));
check("delete", $m->delete("greeting"));
check("deleted", !defined $m->get("greeting"));
check("version", defined((values %{ $m->server_versions })[0]));
print "PERL OK\n";
)PERL");
  const auto [code, output] = runTool({perl, script.string(), std::to_string(server.port())});
  INFO(output);
  CHECK(code == 0);
  CHECK(output.find("PERL OK") != std::string::npos);
}

TEST_CASE("nutcracker spreads keys over two spoolds and reads them back", "[clients][nutcracker]") {
  const std::string nutcracker = requireProgram("nutcracker", "nutcracker");
  TestServer one(ExecMode::kInline, TestServer::defaults(ExecMode::kInline));
  TestServer two(ExecMode::kWorkers, TestServer::defaults(ExecMode::kWorkers));
  TempDir dir;
  const std::uint16_t proxy_port = freePort();
  const std::uint16_t stats_port = freePort();
  const auto config = dir.write("nutcracker.yml",
                                "spoold:\n"
                                "  listen: 127.0.0.1:" + std::to_string(proxy_port) + "\n"
                                "  hash: fnv1a_64\n"
                                "  distribution: ketama\n"
                                "  timeout: 5000\n"
                                "  auto_eject_hosts: false\n"
                                "  servers:\n"
                                "   - 127.0.0.1:" + std::to_string(one.port()) + ":1 one\n"
                                "   - 127.0.0.1:" + std::to_string(two.port()) + ":1 two\n");
  ChildProcess proxy({nutcracker, "-c", config.string(), "-s", std::to_string(stats_port), "-a", "127.0.0.1",
                      "-o", (dir.path() / "nutcracker.log").string(), "-p", (dir.path() / "nutcracker.pid").string()});
  REQUIRE(waitForListener(proxy_port));
  RawClient client(proxy_port);
  constexpr int kKeys = 200;
  for (int i = 0; i < kKeys; ++i) {
    const std::string key = "proxied:" + std::to_string(i);
    REQUIRE(client.roundTrip("set " + key + " 0 0 " + std::to_string(key.size()) + "\r\n" + key + "\r\n") ==
            "STORED\r\n");
  }
  for (int i = 0; i < kKeys; ++i) {
    const std::string key = "proxied:" + std::to_string(i);
    CHECK(client.roundTrip("get " + key + "\r\n", "END\r\n") ==
          "VALUE " + key + " 0 " + std::to_string(key.size()) + "\r\n" + key + "\r\nEND\r\n");
  }
  const auto on_one = std::stoull(statValue(one.port(), "curr_items"));
  const auto on_two = std::stoull(statValue(two.port(), "curr_items"));
  CHECK(on_one > 0);
  CHECK(on_two > 0);
  CHECK(on_one + on_two == kKeys);
}

}  // namespace spoold::test
