#include "test_support.h"

#include "test_pki.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <string_view>

namespace spool::test {

bool tlsMode() {
  static const bool enabled = [] {
    const char* value = std::getenv("SPOOL_TEST_TLS");
    return value != nullptr && std::string_view(value) == "1";
  }();
  return enabled;
}

ListenOptions serverOptions(const std::string& host) {
  ListenOptions options;
  options.host = host;
  if (tlsMode()) {
    options.tls = serverTls();
    // A thousand handshakes at once on a loaded 2-core machine (or under
    // ThreadSanitizer) can take longer than the 10 s default; these tests
    // are not about that timeout (tls_test.cpp is), so allow what any wait
    // in the suite allows.
    options.connection.handshake_timeout = kWaitLimit;
  }
  return options;
}

ConnectOptions clientOptions(std::uint16_t port, const std::string& host) {
  ConnectOptions options;
  options.host = host;
  options.port = port;
  if (tlsMode()) {
    options.tls = clientTls();
    options.connection.handshake_timeout = kWaitLimit;  // as serverOptions()
  }
  return options;
}

void RecordingHandler::onOpen(Connection&) {
  record_->update([](Recording& r) { r.opened = true; });
}

void RecordingHandler::onData(Connection& conn, InputBuffer& input) {
  const std::size_t n = input.size();
  if (echo_) {
    Buffer copy = input.take(n);
    const std::string_view bytes = copy.view();
    record_->update([&](Recording& r) { r.data.append(bytes); });
    (void)conn.send(std::move(copy));
    return;
  }
  const std::string_view bytes = input.text(n);
  record_->update([&](Recording& r) { r.data.append(bytes); });
  input.consume(n);
}

void RecordingHandler::onWritable(Connection&) {
  record_->update([](Recording& r) { ++r.writable_calls; });
}

void recordClose(Watched<Recording>& record, const CloseReason& reason) {
  record.update([&](Recording& r) {
    r.closed = true;
    ++r.close_calls;
    r.reason = reason;
  });
}

void RecordingHandler::onClose(Connection&, const CloseReason& reason) { recordClose(*record_, reason); }

void ByteCounter::onData(Connection&, InputBuffer& input) {
  const std::size_t n = input.size();
  input.consume(n);
  total_->update([n](std::uint64_t& total) { total += n; });
}

void EchoHandler::onData(Connection& conn, InputBuffer& input) {
  if (pending_) {
    return;  // still waiting for onWritable
  }
  Buffer chunk = input.take(input.size());
  if (conn.send(std::move(chunk)) == SendResult::kBackpressure) {
    pending_ = std::move(chunk);  // handed back intact
    conn.pauseReading();
  }
}

void EchoHandler::onWritable(Connection& conn) {
  if (!pending_) {
    return;
  }
  if (conn.send(std::move(pending_)) == SendResult::kBackpressure) {
    return;  // still refused: the payload stayed in pending_
  }
  conn.resumeReading();
}

void TargetHandler::onOpen(Connection& conn) {
  log_->update([&](AcceptLog& l) {
    l.connections.push_back(conn.ptr());
    l.recordings.push_back(record_);
  });
  record_->update([](Recording& r) { r.opened = true; });
}

void TargetHandler::onWritable(Connection&) {
  record_->update([](Recording& r) { ++r.writable_calls; });
}

void TargetHandler::onClose(Connection&, const CloseReason& reason) { recordClose(*record_, reason); }

AcceptLog acceptTargets(Transport& server, Transport& clients, std::size_t count,
                        const std::function<HandlerPtr()>& make_client) {
  auto log = std::make_shared<Watched<AcceptLog>>();
  auto listener = server.listen(serverOptions(), [log] { return std::make_unique<TargetHandler>(log); });
  // Connect in waves no larger than a listen queue (somaxconn may be 128):
  // a handshake whose final ACK finds the accept queue full is completed
  // only by SYN-ACK retries, or never for a client that sends nothing.
  constexpr std::size_t kWave = 100;
  std::vector<ConnectionPtr> client_connections;
  for (std::size_t i = 0; i < count; ++i) {
    client_connections.push_back(clients.connect(clientOptions(listener->port()), make_client()));
    const std::size_t made = i + 1;
    if (made % kWave == 0 || made == count) {
      const bool all = log->waitUntil([made](const AcceptLog& l) { return l.connections.size() == made; });
      INFO("accepted " << log->get().connections.size() << " of " << made);
      REQUIRE(all);
    }
  }
  listener->close();
  AcceptLog result = log->get();
  result.client_connections = std::move(client_connections);
  return result;
}

SendResult sendBlocking(Connection& conn, Buffer&& payload, const RecordingPtr& writable) {
  for (;;) {
    const int seen = writable->get().writable_calls;
    const SendResult result = conn.send(std::move(payload));
    if (result != SendResult::kBackpressure) {
      return result;
    }
    // Refused: the payload is still ours. onWritable() (or the close) must
    // follow the refusal. Waiting out the bound means it never came: say so
    // instead of trying again, which would hide a lost onWritable().
    if (!writable->waitUntil(
            [seen](const Recording& r) { return r.writable_calls > seen || r.closed; },
            kWaitLimit)) {
      return SendResult::kBackpressure;
    }
  }
}

RawClient::RawClient(const std::string& host, std::uint16_t port) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* list = nullptr;
  if (getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &list) != 0) {
    throw std::runtime_error("RawClient: cannot resolve " + host);
  }
  fd_ = ::socket(list->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int rc = ::connect(fd_, list->ai_addr, list->ai_addrlen);
  freeaddrinfo(list);
  if (rc != 0) {
    throw std::runtime_error(std::string("RawClient: connect: ") + std::strerror(errno));
  }
}

RawClient::RawClient(const UnixSocketPath& unix_socket) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (unix_socket.path.size() >= sizeof(address.sun_path)) {
    throw std::runtime_error("RawClient: path too long: " + unix_socket.path);
  }
  std::memcpy(address.sun_path, unix_socket.path.data(), unix_socket.path.size());
  fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (::connect(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
    const int error = errno;
    ::close(fd_);
    fd_ = -1;
    throw std::runtime_error("RawClient: connect " + unix_socket.path + ": " +
                             std::strerror(error));
  }
}

RawClient::~RawClient() { close(); }

void RawClient::sendAll(std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      throw std::runtime_error(std::string("RawClient: send: ") + std::strerror(errno));
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
}

std::string RawClient::receive(std::size_t size, std::chrono::milliseconds limit) {
  std::string out;
  const auto deadline = std::chrono::steady_clock::now() + limit;
  char chunk[65536];
  while (out.size() < size) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd p{fd_, POLLIN, 0};
    if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) {
      break;
    }
    const ssize_t n = ::recv(fd_, chunk, std::min(sizeof(chunk), size - out.size()), 0);
    if (n <= 0) {
      break;
    }
    out.append(chunk, static_cast<std::size_t>(n));
  }
  return out;
}

std::string RawClient::receiveUntilEof(std::chrono::milliseconds limit) {
  return receive(std::string::npos / 2, limit);
}

void RawClient::shutdownWrite() { ::shutdown(fd_, SHUT_WR); }

void RawClient::reset() {
  const linger now{1, 0};
  ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &now, sizeof(now));
  close();
}

void RawClient::close() {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

RunningTransport::RunningTransport(unsigned loops, TransportOptions options) {
  options.loops = loops;
  options.name = "test";
  transport_ = Transport::create(options);
  transport_->start();
}

RunningTransport::~RunningTransport() { transport_->stop(); }

ConnectionPtr connectAndWait(Transport& transport, std::uint16_t port, RecordingPtr record,
                             const std::string& host, ConnectionOptions options) {
  ConnectOptions connect = clientOptions(port, host);
  connect.connection = options;
  auto conn = transport.connect(connect, std::make_unique<RecordingHandler>(record));
  const bool ready = record->waitUntil([](const Recording& r) { return r.opened || r.closed; });
  REQUIRE(ready);
  const Recording seen = record->get();
  INFO("connect to " << host << ":" << port << ": " << seen.reason.describe());
  REQUIRE(seen.opened);
  return conn;
}

TempDir::TempDir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "spool-test-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) {
    throw std::runtime_error(std::string("mkdtemp: ") + std::strerror(errno));
  }
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

std::uint64_t fnv1a(std::string_view bytes, std::uint64_t hash) {
  for (const char c : bytes) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 1099511628211ull;
  }
  return hash;
}

std::string patternBytes(std::size_t size, std::uint64_t seed) {
  std::string out(size, '\0');
  std::uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  for (std::size_t i = 0; i < size; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    out[i] = static_cast<char>(x);
  }
  return out;
}

bool requireRoot(const std::string& why) {
  constexpr const char* kSkipRootOnly = "SPOOL_TEST_SKIP_ROOT_ONLY";
  if (::geteuid() == 0) {
    return true;
  }
  const char* skip = std::getenv(kSkipRootOnly);
  if (skip != nullptr && std::string_view(skip) == "1") {
    WARN("not root and " << kSkipRootOnly << "=1: skipped, nothing checked (" << why << ")");
    return false;
  }
  FAIL("needs root (" << why << "): run as root, or set " << kSkipRootOnly << "=1 to skip it");
  return false;
}

}  // namespace spool::test
