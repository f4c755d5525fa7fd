// TLS: configuration errors fail early and clearly; every handshake failure
// closes only its connection with a readable reason and is counted; peers
// learn what was negotiated.
#include <catch2/catch.hpp>
#include <openssl/ssl.h>

#include <filesystem>

#include "spool/errors.h"
#include "test_pki.h"
#include "test_support.h"

using namespace spool;
using namespace spool::test;

namespace {

std::string setupError(Transport& transport, const TlsConfig& tls) {
  ListenOptions options;
  options.tls = tls;
  try {
    (void)transport.listen(options, [] { return std::make_unique<EchoHandler>(); });
  } catch (const SetupError& e) {
    return e.what();
  }
  return "no error";
}

/// Connects a TLS client and waits for it to open or close.
Recording connectTls(Transport& transport, std::uint16_t port, const TlsConfig& tls) {
  auto record = std::make_shared<Watched<Recording>>();
  ConnectOptions options;
  options.port = port;
  options.tls = tls;
  auto conn = transport.connect(options, std::make_unique<RecordingHandler>(record));
  REQUIRE(record->waitUntil([](const Recording& r) { return r.opened || r.closed; }));
  return record->get();
}

/// Server side: records the first accepted connection and its TLS details.
struct ServerSide {
  std::shared_ptr<Watched<AcceptLog>> accepted = std::make_shared<Watched<AcceptLog>>();
  ListenerPtr listener;
  ServerSide(Transport& transport, const TlsConfig& tls) {
    ListenOptions options;
    options.tls = tls;
    listener = transport.listen(options, [log = accepted] { return std::make_unique<TargetHandler>(log); });
  }
};

}  // namespace

TEST_CASE("TLS configuration errors name the file and OpenSSL's reason", "[tls-config]") {
  RunningTransport transport(1);
  const auto& pki = TestPki::get();
  SECTION("missing certificate file") {
    TlsConfig tls = serverTls();
    tls.certificate_chain_file = pki.dir + "/absent.pem";
    const std::string error = setupError(*transport, tls);
    CHECK_THAT(error, Catch::Contains("absent.pem") && Catch::Contains("No such file"));
  }
  SECTION("a key that does not match the certificate") {
    TlsConfig tls = serverTls();
    tls.private_key_file = pki.wrong_key;
    const std::string error = setupError(*transport, tls);
    CHECK_THAT(error, Catch::Contains("does not match") && Catch::Contains("wrong-key.pem") &&
                          Catch::Contains("key values mismatch"));
  }
  SECTION("a cipher list OpenSSL rejects") {
    TlsConfig tls = serverTls();
    tls.cipher_list = "NOT-A-CIPHER";
    CHECK_THAT(setupError(*transport, tls),
               Catch::Contains("NOT-A-CIPHER") && Catch::Contains("no cipher match"));
  }
  SECTION("a server without a certificate") {
    CHECK_THAT(setupError(*transport, TlsConfig{}), Catch::Contains("certificate_chain_file"));
  }
  SECTION("client verification without CAs") {
    TlsConfig tls = serverTls(PeerVerification::kRequired);
    tls.ca_file.clear();
    CHECK_THAT(setupError(*transport, tls), Catch::Contains("ca_file"));
  }
}

TEST_CASE("a verified TLS session reports what was negotiated", "[tls-session]") {
  const std::string version = GENERATE(as<std::string>{}, "TLSv1.2", "TLSv1.3");
  RunningTransport transport(2);
  TlsConfig server = serverTls(PeerVerification::kRequired);
  server.alpn_protocols = {"memcached", "spool"};
  if (version == "TLSv1.3") {
    server.min_version = TlsVersion::kTls13;
  } else {
    server.cipher_suites = "TLS_AES_128_GCM_SHA256";  // irrelevant for 1.2, still accepted
  }
  ServerSide side(*transport, server);
  TlsConfig client = clientTls(true);
  client.alpn_protocols = {"spool"};
  if (version == "TLSv1.2") {
    client.max_version = TlsVersion::kTls12;
    client.cipher_list = "ECDHE-ECDSA-AES128-GCM-SHA256";
  }
  auto record = std::make_shared<Watched<Recording>>();
  ConnectOptions options;
  options.port = side.listener->port();
  options.tls = client;
  auto conn = transport->connect(options, std::make_unique<RecordingHandler>(record));
  REQUIRE(record->waitUntil([](const Recording& r) { return r.opened || r.closed; }));
  INFO(record->get().reason.describe());
  REQUIRE(record->get().opened);
  const auto mine = conn->tlsPeer();
  REQUIRE(mine);
  CHECK(mine->verified);
  CHECK(mine->alpn == "spool");
  CHECK_THAT(mine->subject, Catch::Contains("CN=localhost"));
  REQUIRE(side.accepted->waitUntil([](const AcceptLog& l) { return !l.connections.empty(); }));
  const auto theirs = side.accepted->get().connections[0]->tlsPeer();
  REQUIRE(theirs);
  CHECK(theirs->has_certificate);
  CHECK(theirs->verified);
  CHECK_THAT(theirs->subject, Catch::Contains("CN=spool-test-client"));
  CHECK(mine->protocol == version);
  if (version == "TLSv1.2") {
    CHECK(mine->cipher == "ECDHE-ECDSA-AES128-GCM-SHA256");
  }
}

TEST_CASE("TLS handshake failures close only that connection, with a reason", "[tls-failure]") {
  RunningTransport transport(2);
  const auto& pki = TestPki::get();

  SECTION("a plain-text client on a TLS port") {
    ServerSide side(*transport, serverTls());
    auto record = std::make_shared<Watched<Recording>>();
    ListenOptions options;
    options.tls = serverTls();
    auto listener = transport->listen(options, [record] { return std::make_unique<RecordingHandler>(record); });
    RawClient plain("127.0.0.1", listener->port());
    plain.sendAll("get key\r\n");
    CHECK(plain.receiveUntilEof().empty());
    REQUIRE(record->waitUntil([](const Recording& r) { return r.closed; }));
    CHECK(record->get().reason.code == CloseCode::kTlsError);
    CHECK_THAT(record->get().reason.describe(), Catch::Contains("TLS error: error:"));
    CHECK(total(transport->stats()).tls_failures >= 1);
    // The same listener still serves TLS clients.
    CHECK(connectTls(*transport, side.listener->port(), clientTls()).opened);
  }
  SECTION("garbage instead of a ClientHello") {
    auto record = std::make_shared<Watched<Recording>>();
    ListenOptions options;
    options.tls = serverTls();
    auto listener = transport->listen(options, [record] { return std::make_unique<RecordingHandler>(record); });
    RawClient garbage("127.0.0.1", listener->port());
    garbage.sendAll(patternBytes(2048, 5));
    (void)garbage.receiveUntilEof();
    REQUIRE(record->waitUntil([](const Recording& r) { return r.closed; }));
    CHECK(record->get().reason.code == CloseCode::kTlsError);
  }
  SECTION("an untrusted server certificate") {
    TlsConfig server = serverTls();
    server.certificate_chain_file = pki.untrusted_cert;
    server.private_key_file = pki.untrusted_key;
    ServerSide side(*transport, server);
    const Recording seen = connectTls(*transport, side.listener->port(), clientTls());
    CHECK_FALSE(seen.opened);
    CHECK(seen.reason.code == CloseCode::kTlsError);
    CHECK_THAT(seen.reason.detail, Catch::Contains("certificate verify failed"));
  }
  SECTION("an expired server certificate") {
    TlsConfig server = serverTls();
    server.certificate_chain_file = pki.expired_cert;
    server.private_key_file = pki.expired_key;
    ServerSide side(*transport, server);
    const Recording seen = connectTls(*transport, side.listener->port(), clientTls());
    CHECK_FALSE(seen.opened);
    CHECK_THAT(seen.reason.detail, Catch::Contains("certificate has expired"));
  }
  SECTION("the wrong server name") {
    ServerSide side(*transport, serverTls());
    TlsConfig client = clientTls();
    client.server_name = "not-localhost.example";
    const Recording seen = connectTls(*transport, side.listener->port(), client);
    CHECK_FALSE(seen.opened);
    CHECK(seen.reason.code == CloseCode::kTlsError);
  }
  SECTION("without a server_name, the host given to connect() is checked") {
    TlsConfig server = serverTls();
    server.certificate_chain_file = pki.other_name_cert;  // trusted CA, but named other.example
    server.private_key_file = pki.other_name_key;
    ServerSide side(*transport, server);
    TlsConfig client = clientTls();
    client.server_name.clear();  // connect() is given 127.0.0.1
    const Recording seen = connectTls(*transport, side.listener->port(), client);
    CHECK_FALSE(seen.opened);
    CHECK(seen.reason.code == CloseCode::kTlsError);
    CHECK_THAT(seen.reason.detail, Catch::Contains("certificate verify failed"));
    // Skipping the name check is explicit: then the trusted chain suffices.
    client.verify_host_name = false;
    CHECK(connectTls(*transport, side.listener->port(), client).opened);
  }
  SECTION("a required client certificate that is missing") {
    auto record = std::make_shared<Watched<Recording>>();
    ListenOptions options;
    options.tls = serverTls(PeerVerification::kRequired);
    auto listener = transport->listen(options, [record] { return std::make_unique<RecordingHandler>(record); });
    const Recording client_side = connectTls(*transport, listener->port(), clientTls(false));
    // TLS 1.3 completes the client's side of the handshake before the server
    // checks its certificate, so the client may open and then be closed.
    REQUIRE(record->waitUntil([](const Recording& r) { return r.closed; }));
    CHECK(record->get().reason.code == CloseCode::kTlsError);
    CHECK_THAT(record->get().reason.detail, Catch::Contains("certificate"));
    (void)client_side;
  }
  CHECK(total(transport->stats()).connections_open <= 2);
}

TEST_CASE("a client that never starts its handshake is closed and gives its slot back", "[tls-handshake]") {
  // One connection slot. A TCP client that connects to a TLS port and says
  // nothing would otherwise hold it forever and lock every TLS client out.
  TransportOptions limited;
  limited.max_connections = 1;
  RunningTransport transport(1, limited);
  auto record = std::make_shared<Watched<Recording>>();
  ListenOptions options;
  options.tls = serverTls();
  SECTION("by the handshake timeout") {
    options.connection.handshake_timeout = std::chrono::milliseconds(300);
  }
  SECTION("by the idle timeout, which covers handshaking connections too") {
    options.connection.handshake_timeout = std::chrono::milliseconds(0);
    options.connection.idle_timeout = std::chrono::milliseconds(300);
  }
  auto listener = transport->listen(options, [record] { return std::make_unique<RecordingHandler>(record); });
  RawClient silent("127.0.0.1", listener->port());
  REQUIRE(record->waitUntil([](const Recording& r) { return r.closed; }));
  const Recording seen = record->get();
  CHECK_FALSE(seen.opened);
  if (options.connection.handshake_timeout.count() > 0) {
    CHECK(seen.reason.code == CloseCode::kHandshakeTimeout);
    CHECK_THAT(seen.reason.detail, Catch::Contains("handshake not completed within"));
    CHECK(total(transport->stats()).tls_handshake_timeouts == 1);
  } else {
    CHECK(seen.reason.code == CloseCode::kIdleTimeout);
  }
  CHECK(silent.receiveUntilEof().empty());
  // The slot is free again: a real TLS client gets in.
  RunningTransport clients(1);
  CHECK(connectTls(*clients, listener->port(), clientTls()).opened);
}

TEST_CASE("connections made with one TlsConfig share one client context", "[tls-config]") {
  // The CA file is read when the first connection's context is built; a
  // second connect() with the same configuration, while the first lives,
  // reuses that context instead of reading the files again.
  RunningTransport transport(1);
  ServerSide side(*transport, serverTls());
  const std::string ca_copy = TestPki::get().dir + "/ca-copy.pem";
  std::filesystem::copy_file(TestPki::get().ca_cert, ca_copy, std::filesystem::copy_options::overwrite_existing);
  TlsConfig client = clientTls();
  client.ca_file = ca_copy;
  auto first_record = std::make_shared<Watched<Recording>>();
  ConnectOptions options;
  options.port = side.listener->port();
  options.tls = client;
  auto first = transport->connect(options, std::make_unique<RecordingHandler>(first_record));
  REQUIRE(first_record->waitUntil([](const Recording& r) { return r.opened || r.closed; }));
  REQUIRE(first_record->get().opened);
  std::filesystem::remove(ca_copy);
  CHECK(connectTls(*transport, side.listener->port(), client).opened);  // no file read, no SetupError
  // Another configuration does read its files, and fails without them.
  client.alpn_protocols = {"x-other"};
  CHECK_THROWS_AS(connectTls(*transport, side.listener->port(), client), SetupError);
  first->close();
}

TEST_CASE("a client that goes away mid-handshake gives its slot back at once", "[tls-handshake]") {
  // Closed (FIN) or reset (RST) before the handshake completed: either way
  // the server learns it at once, without waiting for a timeout.
  const bool reset = GENERATE(false, true);
  INFO((reset ? "reset" : "closed"));
  RunningTransport transport(1);
  auto record = std::make_shared<Watched<Recording>>();
  ListenOptions options;
  options.tls = serverTls();
  options.connection.handshake_timeout = kWaitLimit;  // far beyond the wait below
  auto listener = transport->listen(options, [record] { return std::make_unique<RecordingHandler>(record); });
  {
    RawClient client("127.0.0.1", listener->port());
    client.sendAll(std::string("\x16\x03\x01\x00\x80", 5));  // the start of a ClientHello, no more
    if (reset) {
      client.reset();
    }
  }
  REQUIRE(record->waitUntil([](const Recording& r) { return r.closed; }, std::chrono::seconds(10)));
  CHECK(record->get().reason.code == CloseCode::kTlsError);
  CHECK_FALSE(record->get().opened);
}

namespace {

/// A TLS client on OpenSSL directly: sends `request`, then shuts its TCP
/// write side without a close_notify (as most memcached clients close), and
/// returns what it reads until the server closes.
std::string requestThenFinWithoutCloseNotify(std::uint16_t port, const std::string& request) {
  RawClient tcp("127.0.0.1", port);
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_client_method()), &SSL_CTX_free);
  SSL_CTX_load_verify_locations(ctx.get(), TestPki::get().ca_cert.c_str(), nullptr);
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  std::unique_ptr<SSL, decltype(&SSL_free)> ssl(SSL_new(ctx.get()), &SSL_free);
  SSL_set_fd(ssl.get(), tcp.fd());
  REQUIRE(SSL_connect(ssl.get()) == 1);
  REQUIRE(SSL_write(ssl.get(), request.data(), static_cast<int>(request.size())) == static_cast<int>(request.size()));
  tcp.shutdownWrite();  // FIN, no close_notify
  std::string reply;
  char buffer[4096];
  for (int n; (n = SSL_read(ssl.get(), buffer, sizeof(buffer))) > 0;) {
    reply.append(buffer, static_cast<std::size_t>(n));
  }
  return reply;
}

}  // namespace

TEST_CASE("a TLS peer that closes without close_notify is an ordinary EOF", "[tls-eof]") {
  // Most memcached clients just close their socket. What they sent before
  // their FIN must be delivered, the responses still owed to them sent, and
  // the close reported as the peer's, exactly as on plain TCP.
  RunningTransport transport(1);
  auto record = std::make_shared<Watched<Recording>>();
  ListenOptions options;
  options.tls = serverTls();
  auto listener = transport->listen(options, [record] { return std::make_unique<RecordingHandler>(record, true); });
  const std::string reply = requestThenFinWithoutCloseNotify(listener->port(), "set k 0 0 1\r\nx\r\n");
  REQUIRE(record->waitUntil([](const Recording& r) { return r.closed; }));
  const Recording seen = record->get();
  CHECK(seen.data == "set k 0 0 1\r\nx\r\n");
  INFO(seen.reason.describe());
  CHECK(seen.reason.code == CloseCode::kPeerClosed);
  CHECK(reply == "set k 0 0 1\r\nx\r\n");  // the echo, owed before the EOF, arrived
}
