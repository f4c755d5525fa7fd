// Where spoold listens and how it does TLS, as memcached 1.6.18: -s, -a,
// -b, -l with notls:, the -o ssl_* options, stats settings, refresh_certs.
// The differential cases run memcached next to spoold and compare bytes.
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "options.h"
#include "server_test_support.h"
#include "test_pki.h"
#include "test_support.h"
#include "tls_options.h"

using namespace spoold;
using namespace spoold::test;

namespace {

CommandLine parse(std::vector<std::string> args, std::string* errors = nullptr) {
  args.insert(args.begin(), "spoold");
  std::vector<char*> argv;
  for (auto& arg : args) {
    argv.push_back(arg.data());
  }
  std::ostringstream out;
  std::ostringstream err;
  CommandLine result = parseCommandLine(static_cast<int>(argv.size()), argv.data(), out, err);
  if (errors != nullptr) {
    *errors = err.str();
  }
  return result;
}

/// The `STAT <name> <value>` lines of a stats reply whose names start with
/// one of `prefixes`, in order.
std::string statLines(const std::string& reply, const std::vector<std::string>& prefixes) {
  std::istringstream in(reply);
  std::string line;
  std::string out;
  while (std::getline(in, line)) {
    if (line.starts_with("STAT ssl_handshake_timeout ")) {
      continue;  // spoold's own setting
    }
    for (const auto& prefix : prefixes) {
      if (line.starts_with("STAT " + prefix)) {
        out += line + "\n";
        break;
      }
    }
  }
  return out;
}

void replaceAll(std::string& text, const std::string& from, const std::string& to) {
  for (std::size_t at = text.find(from); at != std::string::npos;
       at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
}

unsigned fileMode(const std::string& path) {
  struct stat st {};
  REQUIRE(::lstat(path.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

void copyFile(const std::string& from, const std::string& to) {
  std::filesystem::copy_file(from, to, std::filesystem::copy_options::overwrite_existing);
}

void writeFile(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::trunc) << text;
}

}  // namespace

TEST_CASE("flags -s, -a and -b parse as memcached's", "[server][listen]") {
  const CommandLine line = parse({"-s", "/tmp/x.sock", "-a", "0766", "-b", "512"});
  REQUIRE(line.run);
  CHECK(line.settings.unix_socket == "/tmp/x.sock");
  CHECK(line.settings.unix_mask == 0766);
  CHECK(line.settings.backlog == 512);
  CHECK(parse({"-a", "700"}).settings.unix_mask == 0700);
  CHECK(parse({"-a", "0800"}).exit_code == 2);
  CHECK(parse({"-b", "x"}).exit_code == 2);
  std::string errors;
  CHECK(parse({"-U", "11211"}, &errors).exit_code == 2);
  CHECK_THAT(errors, Catch::Contains("UDP is not supported"));
}

TEST_CASE("options -o ssl_* take memcached's spellings and refuse what spool cannot do",
          "[server][tls]") {
  const CommandLine line =
      parse({"-Z", "-o",
             "ssl_chain_cert=c.pem,ssl_key=k.pem,ssl_ca_cert=ca.pem,ssl_verify_mode=3,"
             "ssl_ciphers=HIGH,ssl_min_version=3,ssl_keyformat=1,ssl_wbuf_size=16,"
             "ssl_session_cache"});
  REQUIRE(line.run);
  const Settings& s = line.settings;
  CHECK(s.ssl_ca_cert == "ca.pem");
  CHECK(s.ssl_verify_mode == 3);
  CHECK(reportedVerifyMode(s.ssl_verify_mode) == 7);
  CHECK(s.ssl_ciphers == "HIGH");
  CHECK(s.ssl_min_version == "tlsv1.3");
  CHECK(s.ssl_wbuf_size == 16384);
  CHECK(s.ssl_session_cache);
  CHECK(parse({"-o", "ssl_min_version=2"}).settings.ssl_min_version == "tlsv1.2");
  CHECK(parse({"-o", "ssl_min_version=tlsv1.3"}).settings.ssl_min_version == "tlsv1.3");
  // Accepted and reported with no effect, as spool cannot honour them and a
  // client cannot tell.
  CHECK(parse({"-o", "ssl_wbuf_size=32"}).settings.ssl_wbuf_size == 32768);
  CHECK(parse({"-o", "ssl_kernel_tls"}).settings.ssl_kernel_tls);
  for (const char* refused : {"ssl_keyformat=2", "ssl_min_version=0", "ssl_min_version=1",
                              "ssl_min_version=4", "ssl_verify_mode=4", "ssl_bogus=1"}) {
    INFO(refused);
    std::string errors;
    CHECK(parse({"-o", refused}, &errors).exit_code == 2);
    const std::string key = std::string(refused).substr(0, std::string(refused).find('='));
    CHECK_THAT(errors, Catch::Contains(key));
  }
}

TEST_CASE("lists of -l parse as memcached's, notls: only with -Z", "[server][listen]") {
  std::vector<ListenAddress> out;
  std::string error;
  REQUIRE(parseListenList("notls:127.0.0.1:1234,127.0.0.1:1235;[::1]:7,::1,*", 11211, true, out,
                          error));
  REQUIRE(out.size() == 5);
  CHECK((out[0].host == "127.0.0.1" && out[0].port == 1234 && !out[0].tls));
  CHECK((out[1].host == "127.0.0.1" && out[1].port == 1235 && out[1].tls));
  CHECK((out[2].host == "::1" && out[2].port == 7 && out[2].tls));
  CHECK((out[3].host == "::1" && out[3].port == 11211));
  CHECK((out[4].host.empty() && out[4].port == 11211));
  out.clear();
  CHECK_FALSE(parseListenList("notls:127.0.0.1:1", 11211, false, out, error));
  CHECK(error == "'notls' option is valid only when SSL is enabled");
  CHECK_FALSE(parseListenList("127.0.0.1:port", 11211, false, out, error));
  CHECK_FALSE(parseListenList("[::1:5", 11211, false, out, error));
  CHECK(parse({"-l", "notls:127.0.0.1:5"}).exit_code == 2);
  const CommandLine twice =
      parse({"-Z", "-l", "127.0.0.1:1", "-l", "notls:127.0.0.1:2", "-l", "127.0.0.1:1"});
  CHECK(twice.settings.listen == "127.0.0.1:1,notls:127.0.0.1:2");  // as memcached: added, no repeats
}

TEST_CASE("spoold -s listens on the Unix socket only, with -a's mode", "[server][listen]") {
  spool::test::TempDir dir;
  Settings settings = TestServer::defaults(ExecMode::kInline);
  settings.unix_socket = dir.file("spoold.sock");
  settings.unix_mask = 0760;
  settings.backlog = 77;
  {
    TestServer server(ExecMode::kInline, settings);
    CHECK(server.port() == 0);  // no TCP listener
    CHECK(fileMode(settings.unix_socket) == 0760);
    RawClient client(settings.unix_socket);
    CHECK(client.roundTrip("set k 0 0 1\r\nv\r\nget k\r\n", "END\r\n") ==
          "STORED\r\nVALUE k 0 1\r\nv\r\nEND\r\n");
    const std::string stats = client.roundTrip("stats settings\r\n", "END\r\n");
    CHECK_THAT(stats, Catch::Contains("STAT domain_socket " + settings.unix_socket + "\r\n"));
    CHECK_THAT(stats, Catch::Contains("STAT umask 760\r\n"));
    CHECK_THAT(stats, Catch::Contains("STAT tcp_backlog 77\r\n"));
    CHECK_THAT(client.roundTrip("stats conns\r\n", "END\r\n"),
               Catch::Contains(":addr unix:" + settings.unix_socket + "\r\n"));
  }
  CHECK_FALSE(std::filesystem::exists(settings.unix_socket));  // removed at stop
}

TEST_CASE("spoold -s and its stats settings match memcached's", "[server][listen][differential]") {
  spool::test::TempDir dir;
  const std::string theirs = dir.file("memcached.sock");
  const std::string memcached = requireProgram("memcached", "memcached");
  ChildProcess peer({memcached, "-u", "root", "-U", "0", "-t", "2", "-s", theirs, "-a", "0766",
                     "-b", "99", "-l", "127.0.0.1", "-p", "0"});
  REQUIRE(waitForUnixListener(theirs));
  Settings settings = TestServer::defaults(ExecMode::kInline);
  settings.unix_socket = dir.file("spoold.sock");
  settings.unix_mask = 0766;
  settings.backlog = 99;
  TestServer server(ExecMode::kInline, settings);

  CHECK(fileMode(theirs) == fileMode(settings.unix_socket));
  RawClient their_client(theirs);
  RawClient our_client(settings.unix_socket);
  const std::vector<std::string> keys{"domain_socket", "umask", "tcp_backlog", "ssl_"};
  std::string expected = statLines(their_client.roundTrip("stats settings\r\n", "END\r\n"), keys);
  replaceAll(expected, theirs, settings.unix_socket);
  CHECK(statLines(our_client.roundTrip("stats settings\r\n", "END\r\n"), keys) == expected);
  CHECK(our_client.roundTrip("refresh_certs\r\n") == their_client.roundTrip("refresh_certs\r\n"));
}

namespace {

/// A spool TLS client that accepts any certificate; returns the subject of
/// the one spoold presented.
std::string serverSubject(std::uint16_t port) {
  spool::test::RunningTransport transport(1);
  auto record = std::make_shared<spool::test::Watched<spool::test::Recording>>();
  spool::ConnectOptions options;
  options.port = port;
  options.tls = spool::TlsConfig{};
  options.tls->verify_peer = spool::PeerVerification::kNone;
  auto conn = transport->connect(options, std::make_unique<spool::test::RecordingHandler>(record));
  REQUIRE(record->waitUntil([](const auto& r) { return r.opened || r.closed; }));
  REQUIRE(record->get().opened);
  const auto peer = conn->tlsPeer();
  REQUIRE(peer.has_value());
  conn->close();
  return peer->subject;
}

/// One server's certificate and key files, in a folder of their own.
struct CertFiles {
  std::string dir, cert, key;
  CertFiles(const spool::test::TempDir& parent, const std::string& name)
      : dir(parent.file(name)), cert(dir + "/cert.pem"), key(dir + "/key.pem") {
    std::filesystem::create_directory(dir);
    copyFile(spool::test::TestPki::get().server_cert, cert);
    copyFile(spool::test::TestPki::get().server_key, key);
  }
};

}  // namespace

TEST_CASE("refresh_certs answers as memcached's and swaps spoold's certificate",
          "[server][tls][differential]") {
  // Workers mode runs refresh_certs on a worker thread, inline on a loop.
  const ExecMode mode = GENERATE(ExecMode::kInline, ExecMode::kWorkers);
  const spool::test::TestPki& pki = spool::test::TestPki::get();
  spool::test::TempDir dir;
  const CertFiles theirs(dir, "memcached");
  const CertFiles ours(dir, "spoold");
  const std::uint16_t their_plain = freePort();
  const std::string options =
      ",ssl_verify_mode=1,ssl_min_version=3,ssl_session_cache,ssl_ciphers=HIGH,ssl_ca_cert=" +
      pki.ca_cert;
  Memcached peer({"-Z", "-o", "ssl_chain_cert=" + theirs.cert + ",ssl_key=" + theirs.key + options,
                  "-l", "notls:127.0.0.1:" + std::to_string(their_plain)});
  std::string errors;
  Settings settings =
      parse({"-Z", "-o", "ssl_chain_cert=" + ours.cert + ",ssl_key=" + ours.key + options}, &errors)
          .settings;
  INFO(errors);
  settings.threads = 2;
  settings.workers = 2;
  const std::uint16_t our_plain = freePort();
  const std::uint16_t our_tls = freePort();
  settings.listen =
      "notls:127.0.0.1:" + std::to_string(our_plain) + ",127.0.0.1:" + std::to_string(our_tls);
  TestServer server(mode, settings);
  RawClient their_client(their_plain);
  RawClient our_client(our_plain);
  const auto same = [&](const std::string& request, const std::string& terminator = "\r\n") {
    std::string expected = their_client.roundTrip(request, terminator);
    replaceAll(expected, theirs.dir, ours.dir);
    const std::string actual = our_client.roundTrip(request, terminator);
    CHECK(actual == expected);
    return actual;
  };
  const std::vector<std::string> ssl_keys{"ssl_"};
  std::string expected =
      statLines(their_client.roundTrip("stats settings\r\n", "END\r\n"), ssl_keys);
  replaceAll(expected, theirs.dir, ours.dir);
  CHECK(statLines(our_client.roundTrip("stats settings\r\n", "END\r\n"), ssl_keys) == expected);
  CHECK_THAT(our_client.roundTrip("stats\r\n", "END\r\n"),
             Catch::Contains("STAT time_since_server_cert_refresh "));
  CHECK(serverSubject(our_tls).find("CN=localhost") != std::string::npos);

  CHECK(same("refresh_certs\r\n") == "OK\r\n");
  CHECK(same("refresh_certs noreply\r\nmn\r\n") == "MN\r\n");
  for (const CertFiles* files : {&theirs, &ours}) {
    writeFile(files->cert, "not a certificate\n");
  }
  CHECK_THAT(same("refresh_certs\r\n"),
             Catch::StartsWith("Error loading the certificate chain: " + ours.cert));
  for (const CertFiles* files : {&theirs, &ours}) {
    copyFile(pki.other_name_cert, files->cert);  // the old key does not match it
  }
  CHECK_THAT(same("refresh_certs\r\n"), Catch::StartsWith("Error loading the key: " + ours.key));
  for (const CertFiles* files : {&theirs, &ours}) {
    std::filesystem::remove(files->cert);
  }
  CHECK_THAT(same("refresh_certs\r\n"), Catch::Contains("No such file or directory"));
  CHECK(serverSubject(our_tls).find("CN=localhost") !=
        std::string::npos);  // failures changed nothing

  for (const CertFiles* files : {&theirs, &ours}) {
    copyFile(pki.other_name_cert, files->cert);
    copyFile(pki.other_name_key, files->key);
  }
  CHECK(same("refresh_certs\r\n") == "OK\r\n");
  CHECK(serverSubject(our_tls).find("CN=other.example") != std::string::npos);
}

TEST_CASE("refresh_certs without -Z answers as memcached's", "[server][tls][differential]") {
  Memcached peer;
  TestServer server(ExecMode::kInline, TestServer::defaults(ExecMode::kInline));
  RawClient their_client(peer.port());
  RawClient our_client(server.port());
  const std::string expected = their_client.roundTrip("refresh_certs\r\n");
  CHECK(expected == "Error TLS not enabled\r\n");
  CHECK(our_client.roundTrip("refresh_certs\r\n") == expected);
  CHECK(
      statValue(server.port(), "time_since_server_cert_refresh").empty());  // -Z only, as memcached
  CHECK(statValue(peer.port(), "time_since_server_cert_refresh").empty());
}

TEST_CASE("with -s and -Z the socket is plain and refresh_certs still checks the files",
          "[server][tls][differential]") {
  spool::test::TempDir dir;
  const CertFiles theirs(dir, "memcached");
  const CertFiles ours(dir, "spoold");
  const std::string their_socket = dir.file("memcached.sock");
  ChildProcess peer({requireProgram("memcached", "memcached"), "-u", "root", "-U", "0", "-t", "2",
                     "-s", their_socket, "-Z", "-o",
                     "ssl_chain_cert=" + theirs.cert + ",ssl_key=" + theirs.key});
  REQUIRE(waitForUnixListener(their_socket));
  Settings settings = TestServer::defaults(ExecMode::kInline);
  settings.unix_socket = dir.file("spoold.sock");
  settings.tls = true;
  settings.ssl_chain_cert = ours.cert;
  settings.ssl_key = ours.key;
  TestServer server(ExecMode::kInline, settings);
  RawClient their_client(their_socket);
  RawClient our_client(settings.unix_socket);
  CHECK(our_client.roundTrip("refresh_certs\r\n") == "OK\r\n");
  CHECK(their_client.roundTrip("refresh_certs\r\n") == "OK\r\n");
  writeFile(theirs.key, "not a key\n");
  writeFile(ours.key, "not a key\n");
  std::string expected = their_client.roundTrip("refresh_certs\r\n");
  replaceAll(expected, theirs.dir, ours.dir);
  CHECK_THAT(expected, Catch::StartsWith("Error loading the key: "));
  CHECK(our_client.roundTrip("refresh_certs\r\n") == expected);

  // Bad files stop the start, as memcached's ssl_init does.
  Settings bad = settings;
  bad.unix_socket = dir.file("bad.sock");
  Server refused(bad);
  CHECK_THROWS_AS(refused.start(), spool::TlsFileError);
}
