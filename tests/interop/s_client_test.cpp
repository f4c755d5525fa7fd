// Interop with a TLS peer nobody here wrote: `openssl s_client` against the
// example server, over TLS 1.2 and 1.3, with and without client certificates.
#include <catch2/catch.hpp>
#include <signal.h>

#include "child_process.h"
#include "test_pki.h"
#include "test_support.h"

using namespace spool::test;
using namespace std::chrono_literals;

namespace {

/// The example echo server with TLS, on a free port.
class EchoServer {
 public:
  explicit EchoServer(const std::string& verify)
      : process_({SPOOL_ECHO_SERVER, "--port", "0", "--loops", "1", "--tls-cert", TestPki::get().server_cert,
                  "--tls-key", TestPki::get().server_key, "--tls-ca", TestPki::get().ca_cert,
                  "--tls-verify", verify}) {
    REQUIRE(process_.waitForOutput("(TLS)\n", 10s));
    const auto& out = process_.output();
    const auto colon = out.rfind(':', out.find(" (TLS)"));
    port_ = std::stoi(out.substr(colon + 1));
  }
  ~EchoServer() {
    process_.signal(SIGTERM);
    process_.wait(10s);
  }
  [[nodiscard]] int port() const { return port_; }

 private:
  ChildProcess process_;
  int port_ = 0;
};

std::vector<std::string> sClient(int port, const std::string& version, bool with_certificate) {
  const auto& pki = TestPki::get();
  std::vector<std::string> argv = {"openssl", "s_client", "-connect", "127.0.0.1:" + std::to_string(port),
                                    version, "-CAfile", pki.ca_cert, "-verify_return_error",
                                    "-verify_hostname", "localhost", "-quiet", "-no_ign_eof"};
  if (with_certificate) {
    argv.insert(argv.end(), {"-cert", pki.client_cert, "-key", pki.client_key});
  }
  return argv;
}

}  // namespace

TEST_CASE("openssl s_client exchanges data with the example server", "[interop][tls]") {
  const std::string version = GENERATE(as<std::string>{}, "-tls1_2", "-tls1_3");
  EchoServer server("none");
  ChildProcess client(sClient(server.port(), version, false), /*with_stdin=*/true);
  client.write("hello over " + version + "\n");
  INFO(client.output());
  CHECK(client.waitForOutput("hello over " + version + "\n", 20s));
  client.closeStdin();  // -no_ign_eof: s_client closes the connection and exits
  CHECK(client.wait(20s) == 0);
}

TEST_CASE("with client verification required, s_client needs the right certificate", "[interop][tls]") {
  const std::string version = GENERATE(as<std::string>{}, "-tls1_2", "-tls1_3");
  EchoServer server("required");
  SECTION("with the client certificate") {
    ChildProcess client(sClient(server.port(), version, true), /*with_stdin=*/true);
    client.write("verified\n");
    INFO(client.output());
    CHECK(client.waitForOutput("verified\n", 20s));
    client.closeStdin();
    CHECK(client.wait(20s) == 0);
  }
  SECTION("without one") {
    ChildProcess client(sClient(server.port(), version, false), /*with_stdin=*/true);
    client.write("refused\n");
    const int code = client.wait(20s);
    INFO(client.output());
    CHECK(client.output().find("refused\n") == std::string::npos);  // never echoed
    CHECK(code != 0);
    CHECK_THAT(client.output(), Catch::Contains("alert"));
  }
}
