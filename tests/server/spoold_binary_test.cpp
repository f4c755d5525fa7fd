// The spoold executable itself: flags, exit codes, signals.
#include <catch2/catch.hpp>

#include <csignal>
#include <string>

#include "server_test_support.h"
#include "test_support.h"

namespace spoold::test {
namespace {

/// spoold on a free port (-p 0), as the tests' user allows.
struct RunningSpoold : SpooldProcess {
  explicit RunningSpoold(const std::vector<std::string>& extra = {}) : SpooldProcess(SPOOLD_BINARY, extra) {}
};

}  // namespace

TEST_CASE("spoold -h and -V exit 0, bad flags print usage and exit 2", "[binary]") {
  ChildProcess help({SPOOLD_BINARY, "-h"});
  CHECK(help.wait() == 0);
  CHECK(help.output().find("-p, --port") != std::string::npos);
  ChildProcess version({SPOOLD_BINARY, "-V"});
  CHECK(version.wait() == 0);
  CHECK(version.output().starts_with("spoold 1.6"));
  for (const std::vector<std::string>& bad :
       std::vector<std::vector<std::string>>{{SPOOLD_BINARY, "--no-such-flag"},
                                             {SPOOLD_BINARY, "-p", "notaport"},
                                             {SPOOLD_BINARY, "-U", "11211"},
                                             {SPOOLD_BINARY, "-Z"},
                                             {SPOOLD_BINARY, "-o", "ssl_verify_mode=x"},
                                             {SPOOLD_BINARY, "-o", "ext_path=/tmp/spoold-ext:64m"},
                                             {SPOOLD_BINARY, "-a", "9"},
                                             {SPOOLD_BINARY, "-l", "notls:127.0.0.1:0"}}) {
    ChildProcess child(bad);
    INFO(bad[1]);
    CHECK(child.wait() == 2);
    CHECK(child.output().find("spoold") != std::string::npos);
  }
}

TEST_CASE("a TLS certificate that cannot be loaded stops spoold with exit 1", "[binary]") {
  ChildProcess child(spooldArgv(SPOOLD_BINARY, {"-p", "0", "-Z", "-o",
                                                "ssl_chain_cert=/nonexistent/cert.pem,ssl_key=/nonexistent/key.pem"}));
  CHECK(child.wait() == 1);
  CHECK(child.output().find("cert.pem") != std::string::npos);
}

TEST_CASE("a second spoold on a port in use refuses to start, as memcached does", "[binary]") {
  RunningSpoold first;
  const std::string port = std::to_string(first.port);
  ChildProcess second(spooldArgv(SPOOLD_BINARY, {"-p", port, "-l", "127.0.0.1"}));
  CHECK(second.wait() == 71);
  CHECK(second.output().find("failed to listen on one of interface(s) 127.0.0.1: Address already in use") !=
        std::string::npos);
  // The first one still serves.
  RawClient client(first.port);
  CHECK(client.roundTrip("version\r\n").starts_with("VERSION "));
}

TEST_CASE("a second spoold -s on a live server's socket refuses to start and takes nothing",
          "[binary]") {
  spool::test::TempDir dir;
  Settings settings = TestServer::defaults(ExecMode::kInline);
  settings.unix_socket = dir.file("live.sock");
  TestServer first(ExecMode::kInline, settings);
  ChildProcess second(spooldArgv(SPOOLD_BINARY, {"-s", settings.unix_socket}));
  CHECK(second.wait() == 71);
  CHECK(second.output().find("failed to listen on one of interface(s) " + settings.unix_socket +
                             ": Address already in use") != std::string::npos);
  RawClient client(
      settings.unix_socket);  // memcached would have unlinked it: the first server still serves
  CHECK(client.roundTrip("version\r\n").starts_with("VERSION "));
}

TEST_CASE("SIGTERM and SIGINT stop spoold cleanly with exit 0", "[binary]") {
  const int sig = GENERATE(SIGTERM, SIGINT);
  const std::string mode = GENERATE(std::string("--exec=inline"), std::string("--exec=workers"));
  RunningSpoold spoold({mode});
  {
    RawClient client(spoold.port);
    CHECK(client.roundTrip("set k 0 0 2\r\nhi\r\n") == "STORED\r\n");
    CHECK(client.roundTrip("get k\r\n", "END\r\n") == "VALUE k 0 2\r\nhi\r\nEND\r\n");
    std::string request;
    for (int i = 0; i < 1000; ++i) {
      request += "get k\r\n";
    }
    client.send(request);
    CHECK(client.read(1).size() > 0);  // the server is answering the pipeline
    spoold.process->signal(sig);
    const std::string rest = client.readToEof();
    CHECK(client.closed());
  }
  CHECK(spoold.process->wait() == 0);
}

}  // namespace spoold::test
