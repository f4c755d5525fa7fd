// memcached 1.6.18's flags that act on the spoold process itself (user,
// daemon, pid file, shutdown, memory locking, core limit) and the flags it
// refuses: tested on the spoold executable.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "server_test_support.h"

namespace spoold::test {
namespace {

/// Runs spoold with `flags` expecting it to refuse them: exit 2 and a
/// message that contains `message`.
void checkRefused(const std::vector<std::string>& flags, const std::string& message) {
  std::vector<std::string> argv{SPOOLD_BINARY, "-p", "0"};
  argv.insert(argv.end(), flags.begin(), flags.end());
  ChildProcess child(argv);
  INFO(flags.front() << " " << flags.back() << ": " << child.output());
  CHECK(child.wait() == 2);
  CHECK(child.output().find(message) != std::string::npos);
}

}  // namespace

TEST_CASE("memcached flags spoold cannot honour are refused at start-up, naming the flag", "[flags][binary]") {
  checkRefused({"-S"}, "-S: binary protocol SASL authentication is not implemented");
  checkRefused({"--enable-sasl"}, "-S: binary protocol SASL");
  checkRefused({"-e", "/dev/shm/spoold-memory"}, "-e: a restartable item memory file is not implemented");
  checkRefused({"-L"}, "-L: spoold does not preallocate item memory");
  checkRefused({"-N", "2"}, "-N: NAPI");
  checkRefused({"-i"}, "-i:");
  checkRefused({"-o", "ext_path=/tmp/extstore:64m"}, "-o ext_path: extstore");
  checkRefused({"-o", "ext_item_size=100"}, "-o ext_item_size: extstore");
  checkRefused({"-o", "slab_chunk_max=256"}, "-o slab_chunk_max:");
  checkRefused({"-o", "track_sizes"}, "-o track_sizes:");
  checkRefused({"-o", "no_maxconns_fast"}, "-o no_maxconns_fast:");
  checkRefused({"-o", "no_modern"}, "-o no_modern:");
  checkRefused({"-o", "sock_cookie_id=5"}, "-o sock_cookie_id:");
  // memcached's own words for a sub-option nobody knows.
  checkRefused({"-o", "frobnicate"}, "Illegal suboption \"frobnicate\"");
  checkRefused({"-o", "meta_response_old"}, "Illegal suboption \"meta_response_old\"");
  checkRefused({"-o", "hashpower=99"}, "-o hashpower: invalid value '99'");
  checkRefused({"-o", "hash_algorithm=md5"}, "-o hash_algorithm: invalid value 'md5'");
  checkRefused({"-o", "slab_sizes=100-200"}, "-o slab_sizes:");
  checkRefused({"-o", "hot_lru_pct=60,warm_lru_pct=40"}, "cannot be more than 80% combined");
  checkRefused({"-o", "temporary_ttl=30,no_lru_maintainer"}, "temporary_ttl requires lru_maintainer");
}

}  // namespace spoold::test
