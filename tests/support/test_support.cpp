#include "test_support.h"

#include <catch2/catch.hpp>

namespace spool::test {

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

void RecordingHandler::onClose(Connection&, const CloseReason& reason) {
  record_->update([&](Recording& r) {
    r.closed = true;
    ++r.close_calls;
    r.reason = reason;
  });
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
  ConnectOptions connect;
  connect.host = host;
  connect.port = port;
  connect.connection = options;
  auto conn = transport.connect(connect, std::make_unique<RecordingHandler>(record));
  const bool ready = record->waitUntil([](const Recording& r) { return r.opened || r.closed; });
  REQUIRE(ready);
  const Recording seen = record->get();
  INFO("connect to " << host << ":" << port << ": " << seen.reason.describe());
  REQUIRE(seen.opened);
  return conn;
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

}  // namespace spool::test
