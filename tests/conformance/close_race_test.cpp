// Sends racing with close() and with Transport::stop(): no crash, no leak,
// and every payload either delivered or released — counted with the release
// callbacks of zero-copy (wrapped) payloads.
#include <catch2/catch.hpp>

#include <atomic>
#include <thread>

#include "test_support.h"

using namespace spool;
using namespace spool::test;

namespace {

struct ReleaseCount {
  std::atomic<std::uint64_t> released{0};
};

void countRelease(void* context, const std::byte*, std::size_t) noexcept {
  static_cast<ReleaseCount*>(context)->released.fetch_add(1, std::memory_order_relaxed);
}

// Big enough to take the zero-copy path for some sizes, small for others.
const std::string kPayload = patternBytes(4096, 7);

Buffer wrapped(ReleaseCount& count, std::size_t size) {
  return Buffer::wrap(kPayload.data(), size, &countRelease, &count);
}

/// Counts bytes received and closes seen.
struct SinkState {
  std::uint64_t bytes = 0;
  int closed = 0;
};
class Sink final : public ConnectionHandler {
 public:
  explicit Sink(std::shared_ptr<Watched<SinkState>> state) : state_(std::move(state)) {}
  void onData(Connection&, InputBuffer& input) override {
    const std::size_t n = input.size();
    input.consume(n);
    state_->update([n](SinkState& s) { s.bytes += n; });
  }
  void onClose(Connection&, const CloseReason&) override {
    state_->update([](SinkState& s) { ++s.closed; });
  }

 private:
  std::shared_ptr<Watched<SinkState>> state_;
};

struct Tally {
  std::atomic<std::uint64_t> attempts{0};
  std::atomic<std::uint64_t> ok{0};
  std::atomic<std::uint64_t> ok_bytes{0};
  std::atomic<std::uint64_t> closed{0};
  std::atomic<std::uint64_t> refused{0};
};

/// One send of a wrapped payload; a refused payload is dropped here (which
/// releases it), so every attempt ends in exactly one release.
void sendOnce(Connection& conn, ReleaseCount& count, Tally& tally, std::size_t size) {
  tally.attempts.fetch_add(1, std::memory_order_relaxed);
  Buffer payload = wrapped(count, size);
  switch (conn.send(std::move(payload))) {
    case SendResult::kOk:
      tally.ok.fetch_add(1, std::memory_order_relaxed);
      tally.ok_bytes.fetch_add(size, std::memory_order_relaxed);
      break;
    case SendResult::kClosed: tally.closed.fetch_add(1, std::memory_order_relaxed); break;
    case SendResult::kBackpressure: tally.refused.fetch_add(1, std::memory_order_relaxed); break;
  }
}

}  // namespace

TEST_CASE("sends racing with close from other threads release every payload once",
          "[conformance][close][concurrency][tls]") {
  constexpr int kConnections = 64;
  constexpr int kProducers = 3;
  constexpr int kSendsPerProducer = 60'000;
  ReleaseCount releases;
  Tally tally;
  auto sink = std::make_shared<Watched<SinkState>>();
  {
    RunningTransport server(2);
    RunningTransport clients(2);
    const AcceptLog targets = acceptTargets(*server, *clients, kConnections, [&] {
      return std::make_unique<Sink>(sink);
    });
    std::atomic<int> started{0};
    std::vector<std::thread> producers;
    for (int p = 0; p < kProducers; ++p) {
      producers.emplace_back([&, p] {
        started.fetch_add(1);
        for (int i = 0; i < kSendsPerProducer; ++i) {
          const auto size = static_cast<std::size_t>((i * 131 + p) % kPayload.size() + 1);
          sendOnce(*targets.connections[(i + p) % kConnections], releases, tally, size);
        }
      });
    }
    // The closer walks the connections while the producers run, alternating
    // graceful closes and aborts; its pace is set by the producers' progress.
    std::thread closer([&] {
      while (started.load() < kProducers) {
        std::this_thread::yield();
      }
      for (int c = 0; c < kConnections; ++c) {
        const std::uint64_t goal = std::uint64_t(c + 1) * kProducers * kSendsPerProducer / (kConnections + 8);
        while (tally.attempts.load() < goal) {
          std::this_thread::yield();
        }
        targets.connections[c]->close(c % 2 ? CloseMode::kAbort : CloseMode::kGraceful, "race");
      }
    });
    for (auto& t : producers) {
      t.join();
    }
    closer.join();
    for (int c = 0; c < kConnections; ++c) {
      REQUIRE(targets.recordings[c]->waitUntil([](const Recording& r) { return r.closed; }));
      CHECK(targets.recordings[c]->get().close_calls == 1);
      CHECK_FALSE(targets.connections[c]->isOpen());
      CHECK(targets.connections[c]->send(std::string_view("late")) == SendResult::kClosed);
    }
    REQUIRE(sink->waitUntil([](const SinkState& s) { return s.closed == kConnections; }));
  }  // both transports stopped: everything queued was written or released
  INFO("attempts " << tally.attempts << ", ok " << tally.ok << ", closed " << tally.closed
                   << ", refused " << tally.refused);
  CHECK(tally.attempts == std::uint64_t{kProducers} * kSendsPerProducer);
  CHECK(releases.released.load() == tally.attempts.load());
  CHECK(tally.closed > 0);  // the race really happened
  CHECK(sink->get().bytes <= tally.ok_bytes.load());
}

TEST_CASE("stop() while producers are sending releases every payload once",
          "[conformance][stop][concurrency][tls]") {
  constexpr int kConnections = 16;
  constexpr int kProducers = 3;
  ReleaseCount releases;
  Tally tally;
  auto sink = std::make_shared<Watched<SinkState>>();
  RunningTransport clients(2);
  TransportOptions options;
  options.loops = 2;
  auto server = Transport::create(options);
  server->start();
  const AcceptLog targets = acceptTargets(*server, *clients, kConnections, [&] {
    return std::make_unique<Sink>(sink);
  });
  std::atomic<bool> all_closed{false};
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      // Send until every connection reports closed (bounded by count too).
      for (int i = 0; i < 5'000'000 && !all_closed.load(); ++i) {
        sendOnce(*targets.connections[(i + p) % kConnections], releases, tally, 64 + i % 2048);
      }
    });
  }
  // Stop once the producers are well under way: paced by their progress.
  const auto deadline = std::chrono::steady_clock::now() + kWaitLimit;
  while (tally.ok.load() < 50'000 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  REQUIRE(tally.ok.load() >= 50'000);
  server->stop();
  for (auto& conn : targets.connections) {
    CHECK_FALSE(conn->isOpen());
  }
  all_closed = true;
  for (auto& t : producers) {
    t.join();
  }
  for (auto& record : targets.recordings) {
    CHECK(record->get().close_calls == 1);
    CHECK(record->get().reason.code == CloseCode::kTransportStopped);
  }
  INFO("attempts " << tally.attempts << ", ok " << tally.ok << ", closed " << tally.closed);
  CHECK(releases.released.load() == tally.attempts.load());
  CHECK(tally.closed > 0);
  server.reset();  // the connections outlive the transport safely
}

namespace {

// One slot per send: its release callback must run once, leaving it at 1.
void releaseSlot(void* context, const std::byte*, std::size_t) noexcept {
  static_cast<std::atomic<std::uint8_t>*>(context)->fetch_add(1, std::memory_order_relaxed);
}

}  // namespace

TEST_CASE("1M sends racing with closes on 1,000 connections: each payload released exactly once",
          "[conformance][close][concurrency][stress][tls]") {
  constexpr int kConnections = 1000;
  constexpr int kProducers = 4;
  constexpr int kSendsPerProducer = 250'000;  // 1M in all
  auto slots = std::make_unique<std::atomic<std::uint8_t>[]>(std::size_t{kProducers} * kSendsPerProducer);
  Tally tally;
  auto sink = std::make_shared<Watched<SinkState>>();
  {
    RunningTransport server(2);
    RunningTransport clients(2);
    const AcceptLog targets = acceptTargets(*server, *clients, kConnections, [&] {
      return std::make_unique<Sink>(sink);
    });
    std::atomic<int> started{0};
    std::vector<std::thread> producers;
    for (int p = 0; p < kProducers; ++p) {
      producers.emplace_back([&, p] {
        started.fetch_add(1);
        for (int i = 0; i < kSendsPerProducer; ++i) {
          auto* slot = &slots[std::size_t(p) * kSendsPerProducer + i];
          const std::size_t size = 1 + (i * 37 + p) % kPayload.size();
          tally.attempts.fetch_add(1, std::memory_order_relaxed);
          Buffer payload = Buffer::wrap(kPayload.data(), size, &releaseSlot, slot);
          const SendResult result =
              targets.connections[(i * 7 + p * 13) % kConnections]->send(std::move(payload));
          (result == SendResult::kOk ? tally.ok : tally.closed).fetch_add(1, std::memory_order_relaxed);
        }  // a refused payload is released here, by the Buffer's destructor
      });
    }
    // Two closers race the producers, walking the connections from both ends.
    auto closer = [&](int from, int step) {
      while (started.load() < kProducers) {
        std::this_thread::yield();
      }
      for (int n = 0; n < kConnections / 2; ++n) {
        const std::uint64_t goal =
            std::uint64_t(n + 1) * kProducers * kSendsPerProducer / (kConnections / 2 + 50);
        while (tally.attempts.load() < goal) {
          std::this_thread::yield();
        }
        targets.connections[from + n * step]->close(n % 3 == 0 ? CloseMode::kAbort : CloseMode::kGraceful);
      }
    };
    std::thread closer_a(closer, 0, 1);
    std::thread closer_b(closer, kConnections - 1, -1);
    for (auto& t : producers) {
      t.join();
    }
    closer_a.join();
    closer_b.join();
    for (auto& record : targets.recordings) {
      REQUIRE(record->waitUntil([](const Recording& r) { return r.closed; }));
      CHECK(record->get().close_calls == 1);
    }
  }  // transports stopped: nothing is left in flight
  std::uint64_t never = 0;
  std::uint64_t twice = 0;
  for (std::size_t i = 0; i < std::size_t{kProducers} * kSendsPerProducer; ++i) {
    const auto count = slots[i].load();
    never += count == 0 ? 1 : 0;
    twice += count > 1 ? 1 : 0;
  }
  INFO("ok " << tally.ok << ", closed " << tally.closed);
  CHECK(never == 0);
  CHECK(twice == 0);
  CHECK(tally.closed > 0);
  CHECK(tally.ok > 0);
}
