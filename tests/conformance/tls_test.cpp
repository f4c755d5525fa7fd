// TLS: configuration errors fail early and clearly; every handshake failure
// closes only its connection with a readable reason and is counted; peers
// learn what was negotiated.
#include <catch2/catch.hpp>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>

#include <filesystem>
#include <utility>

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

/// A TLS client on OpenSSL directly whose records, close_notify included,
/// are gathered and sent in one segment (send()): the server then finds the
/// close_notify already waiting behind the records it reads first. It can
/// also leave without a close_notify (finWithoutCloseNotify()).
class GatheringTlsClient {
 public:
  explicit GatheringTlsClient(std::uint16_t port) : tcp_("127.0.0.1", port) {
    SSL_CTX_load_verify_locations(ctx_.get(), TestPki::get().ca_cert.c_str(), nullptr);
    SSL_CTX_set_verify(ctx_.get(), SSL_VERIFY_PEER, nullptr);
    ssl_.reset(SSL_new(ctx_.get()));
    SSL_set_fd(ssl_.get(), tcp_.fd());
    REQUIRE(SSL_connect(ssl_.get()) == 1);
    gathered_ = BIO_new(BIO_s_mem());
    SSL_set0_wbio(ssl_.get(), gathered_);  // from here on, records collect in memory
  }
  void write(std::string_view bytes) {
    REQUIRE(SSL_write(ssl_.get(), bytes.data(), static_cast<int>(bytes.size())) == static_cast<int>(bytes.size()));
  }
  void closeNotify() {
    REQUIRE(SSL_shutdown(ssl_.get()) == 0);  // the alert is gathered; the peer's has not come
    // OpenSSL refuses application data after its own close_notify; a peer
    // that half-closes (as TLS 1.3 allows) reads on: forget that we sent it.
    SSL_set_shutdown(ssl_.get(), 0);
  }
  /// Sends everything gathered with one send().
  void send() {
    char* data = nullptr;
    const long size = BIO_get_mem_data(gathered_, &data);
    tcp_.sendAll(std::string_view(data, static_cast<std::size_t>(size)));
    (void)BIO_reset(gathered_);
  }
  /// Shuts the TCP write side: a FIN without a close_notify, as most
  /// memcached clients close.
  void finWithoutCloseNotify() { tcp_.shutdownWrite(); }
  /// Reads until the server's close_notify (`close_notify` is set), an EOF,
  /// an error, or `limit` without a byte; returns what came.
  std::string readToEnd(std::chrono::seconds limit, bool& close_notify) {
    const timeval timeout{static_cast<time_t>(limit.count()), 0};
    ::setsockopt(tcp_.fd(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    std::string received;
    char buffer[16 << 10];
    int n;
    while ((n = SSL_read(ssl_.get(), buffer, sizeof(buffer))) > 0) {
      received.append(buffer, static_cast<std::size_t>(n));
    }
    close_notify = SSL_get_error(ssl_.get(), n) == SSL_ERROR_ZERO_RETURN;
    return received;
  }

 private:
  RawClient tcp_;
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx_{SSL_CTX_new(TLS_client_method()), &SSL_CTX_free};
  std::unique_ptr<SSL, decltype(&SSL_free)> ssl_{nullptr, &SSL_free};
  BIO* gathered_ = nullptr;  // owned by ssl_
};

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
  GatheringTlsClient client(listener->port());
  client.write("set k 0 0 1\r\nx\r\n");
  client.send();
  client.finWithoutCloseNotify();
  bool close_notify = false;
  const std::string reply = client.readToEnd(std::chrono::seconds(20), close_notify);
  REQUIRE(record->waitUntil([](const Recording& r) { return r.closed; }));
  const Recording seen = record->get();
  CHECK(seen.data == "set k 0 0 1\r\nx\r\n");
  INFO(seen.reason.describe());
  CHECK(seen.reason.code == CloseCode::kPeerClosed);
  CHECK(reply == "set k 0 0 1\r\nx\r\n");  // the echo, owed before the EOF, arrived
}

namespace {

/// Echoes whole lines; closes (the default) when the peer shuts down.
class LineEcho final : public ConnectionHandler {
 public:
  explicit LineEcho(RecordingPtr record) : record_(std::move(record)) {}
  void onData(Connection& conn, InputBuffer& input) override {
    while (const auto end = input.find("\n", input.size())) {
      (void)conn.send(input.take(*end + 1));
    }
  }
  void onClose(Connection&, const CloseReason& reason) override { recordClose(*record_, reason); }

 private:
  RecordingPtr record_;
};

/// Answers "quit" with "bye", closes, and only then consumes the command.
class Quitter final : public ConnectionHandler {
 public:
  explicit Quitter(RecordingPtr record) : record_(std::move(record)) {}
  void onData(Connection& conn, InputBuffer& input) override {
    if (input.find("quit\r\n", input.size()) == std::size_t{0}) {
      (void)conn.send("bye\r\n");
      conn.close();
    }
    input.consume(input.size());
  }
  void onClose(Connection&, const CloseReason& reason) override { recordClose(*record_, reason); }

 private:
  RecordingPtr record_;
};

}  // namespace

TEST_CASE("bytes a TLS peer sends just before its close_notify reach the handler first", "[tls-eof]") {
  // As on plain TCP, everything sent before the goodbye is delivered before
  // the EOF: here the end of a line arrives in the same read as the peer's
  // close_notify (behind 5000 bytes the handler left buffered), and the
  // whole line must be echoed before the server closes.
  RunningTransport transport(1);
  auto record = std::make_shared<Watched<Recording>>();
  ListenOptions options;
  options.tls = serverTls();
  options.connection.max_input_bytes = 0;
  auto listener = transport->listen(options, [record] { return std::make_unique<LineEcho>(record); });
  GatheringTlsClient client(listener->port());
  const std::string line = std::string(5000, 'x') + "lo\n";
  client.write(line.substr(0, 5000));
  client.write(line.substr(5000));
  client.closeNotify();
  client.send();
  bool close_notify = false;
  const std::string echoed = client.readToEnd(std::chrono::seconds(20), close_notify);
  CHECK(echoed.size() == line.size());
  CHECK((echoed == line));  // (not expanded: 5000 bytes)
  CHECK(close_notify);
  REQUIRE(record->waitUntil([](const Recording& r) { return r.closed; }, std::chrono::seconds(20)));
  INFO(record->get().reason.describe());
  CHECK(record->get().reason.code == CloseCode::kPeerClosed);
}

TEST_CASE("a TLS peer's close_notify during a flush does not stop the flush", "[tls-eof]") {
  // The server answers "quit" and closes; the client's close_notify is
  // already waiting behind the command. The reply must still be written,
  // then the close finish: a flush that stopped at the peer's alert would
  // hold the connection, its socket and its slot until the stop.
  RunningTransport transport(1);
  auto record = std::make_shared<Watched<Recording>>();
  ListenOptions options;
  options.tls = serverTls();
  options.connection.max_input_bytes = 6;  // one command at a time: reading pauses and resumes
  options.connection.linger_timeout = std::chrono::seconds(30);  // only a stall would reach it
  auto listener = transport->listen(options, [record] { return std::make_unique<Quitter>(record); });
  GatheringTlsClient client(listener->port());
  client.write("quit\r\n");
  client.closeNotify();
  client.send();
  bool close_notify = false;
  CHECK(client.readToEnd(std::chrono::seconds(20), close_notify) == "bye\r\n");
  CHECK(close_notify);
  REQUIRE(record->waitUntil([](const Recording& r) { return r.closed; }, std::chrono::seconds(20)));
  INFO(record->get().reason.describe());
  CHECK(record->get().reason.code == CloseCode::kLocalClose);
  CHECK(record->get().reason.detail.empty());  // not "output not flushed within ..."
}
