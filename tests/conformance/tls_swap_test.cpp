// Listener::replaceTls: new connections get the new certificate, open ones
// keep theirs and keep working, and bad files change nothing.
#include <catch2/catch.hpp>

#include "spool/errors.h"
#include "test_pki.h"
#include "test_support.h"

using namespace spool;
using namespace spool::test;

namespace {

/// A client that accepts any certificate, so that the test sees which one
/// the server presented.
struct Client {
  RecordingPtr record = std::make_shared<Watched<Recording>>();
  ConnectionPtr conn;

  Client(Transport& transport, std::uint16_t port) {
    ConnectOptions options;
    options.port = port;
    options.tls = TlsConfig{};
    options.tls->verify_peer = PeerVerification::kNone;
    conn = transport.connect(options, std::make_unique<RecordingHandler>(record));
    REQUIRE(record->waitUntil([](const Recording& r) { return r.opened || r.closed; }));
    REQUIRE(record->get().opened);
  }
  /// The subject of the server's certificate, as this client saw it.
  std::string serverSubject() const {
    const auto peer = conn->tlsPeer();
    REQUIRE(peer.has_value());
    return peer->subject;
  }
  void requireEcho(const std::string& text) {
    const std::size_t before = record->get().data.size();
    REQUIRE(conn->send(std::string_view(text)) == SendResult::kOk);
    REQUIRE(record->waitUntil(
        [&](const Recording& r) { return r.data.size() >= before + text.size(); }));
    CHECK(record->get().data.substr(before) == text);
  }
};

TlsConfig otherCertificate() {
  TlsConfig tls = serverTls();
  tls.certificate_chain_file = TestPki::get().other_name_cert;
  tls.private_key_file = TestPki::get().other_name_key;
  return tls;
}

}  // namespace

TEST_CASE("replaceTls gives new connections the new certificate", "[conformance][tls-swap]") {
  RunningTransport transport(2);
  ListenOptions options;
  options.tls = serverTls();
  auto listener = transport->listen(options, [] { return std::make_unique<EchoHandler>(); });
  Client before(*transport, listener->port());
  CHECK_THAT(before.serverSubject(), Catch::Contains("CN=localhost"));

  listener->replaceTls(otherCertificate());
  for (int i = 0; i < 4; ++i) {  // whichever loop accepts it
    Client after(*transport, listener->port());
    CHECK_THAT(after.serverSubject(), Catch::Contains("CN=other.example"));
    after.requireEcho("new " + std::to_string(i));
  }
  before.requireEcho("the open connection is untouched");
  CHECK_THAT(before.serverSubject(), Catch::Contains("CN=localhost"));
}

TEST_CASE("replaceTls with bad files throws and keeps the current certificate",
          "[conformance][tls-swap]") {
  RunningTransport transport(2);
  ListenOptions options;
  options.tls = serverTls();
  auto listener = transport->listen(options, [] { return std::make_unique<EchoHandler>(); });

  TlsConfig mismatched = otherCertificate();
  mismatched.private_key_file = TestPki::get().wrong_key;
  try {
    listener->replaceTls(mismatched);
    FAIL("a key that does not match its certificate was accepted");
  } catch (const TlsFileError& e) {
    CHECK(e.kind() == TlsFileError::Kind::kPrivateKey);
    CHECK(e.file() == TestPki::get().wrong_key);
    CHECK_THAT(e.reason(), Catch::StartsWith("error:"));
  }
  TlsConfig missing = otherCertificate();
  missing.certificate_chain_file = TestPki::get().dir + "/no-such-file.pem";
  try {
    listener->replaceTls(missing);
    FAIL("a missing certificate file was accepted");
  } catch (const TlsFileError& e) {
    CHECK(e.kind() == TlsFileError::Kind::kCertificateChain);
    CHECK(e.file() == missing.certificate_chain_file);
    CHECK_THAT(e.reason(), Catch::Contains("No such file or directory"));
  }
  Client client(*transport, listener->port());
  CHECK_THAT(client.serverSubject(), Catch::Contains("CN=localhost"));
  client.requireEcho("still served");
}

TEST_CASE("replaceTls on a listener without TLS is refused", "[conformance][tls-swap]") {
  RunningTransport transport(1);
  auto listener =
      transport->listen(ListenOptions{}, [] { return std::make_unique<EchoHandler>(); });
  CHECK_THROWS_AS(listener->replaceTls(serverTls()), SetupError);
}
