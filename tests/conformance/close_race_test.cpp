// Sends racing with close() and with Transport::stop(): no crash, no leak,
// and every payload either delivered or released — counted per payload, with
// the release callback of each zero-copy (wrapped) payload bumping a slot of
// its own, so that a payload released twice and one never released cannot
// cancel out.
#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <thread>
#include <vector>

#include "test_support.h"

using namespace spool;
using namespace spool::test;

namespace {

// Big enough to take the zero-copy path for some sizes, small for others.
const std::string kPayload = patternBytes(4096, 7);

// One slot per send: its release callback must run once, leaving it at 1.
void releaseSlot(void* context, const std::byte*, std::size_t) noexcept {
  static_cast<std::atomic<std::uint8_t>*>(context)->fetch_add(1, std::memory_order_relaxed);
}

/// One release slot per send a test may make, all zero at first.
class ReleaseSlots {
 public:
  explicit ReleaseSlots(std::size_t count)
      : count_(count), slots_(std::make_unique<std::atomic<std::uint8_t>[]>(count)) {}
  /// A payload of `size` bytes whose release bumps slot `index`.
  Buffer payload(std::size_t index, std::size_t size) {
    return Buffer::wrap(kPayload.data(), size, &releaseSlot, &slots_[index]);
  }

  struct Audit {
    std::uint64_t never = 0;  ///< sent, never released
    std::uint64_t twice = 0;  ///< sent, released more than once
    std::uint64_t stray = 0;  ///< never sent, yet released
  };
  /// Checks slots [begin, begin + sent) were released exactly once and the
  /// rest of [begin, end) never.
  void audit(std::size_t begin, std::size_t sent, std::size_t end, Audit& into) const {
    for (std::size_t i = begin; i < end; ++i) {
      const auto count = slots_[i].load();
      if (i < begin + sent) {
        into.never += count == 0 ? 1 : 0;
        into.twice += count > 1 ? 1 : 0;
      } else {
        into.stray += count != 0 ? 1 : 0;
      }
    }
  }
  [[nodiscard]] std::size_t size() const noexcept { return count_; }

 private:
  std::size_t count_;
  std::unique_ptr<std::atomic<std::uint8_t>[]> slots_;
};

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

  void count(SendResult result, std::size_t size) {
    attempts.fetch_add(1, std::memory_order_relaxed);
    switch (result) {
      case SendResult::kOk:
        ok.fetch_add(1, std::memory_order_relaxed);
        ok_bytes.fetch_add(size, std::memory_order_relaxed);
        break;
      case SendResult::kClosed: closed.fetch_add(1, std::memory_order_relaxed); break;
      case SendResult::kBackpressure: refused.fetch_add(1, std::memory_order_relaxed); break;
    }
  }
};

/// Spins (yielding) until `done()` or kWaitLimit; for threads that may not
/// use Catch2. @return done().
template <typename Done>
bool yieldUntil(Done&& done) {
  const auto deadline = std::chrono::steady_clock::now() + kWaitLimit;
  while (!done() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  return done();
}

}  // namespace

TEST_CASE("stop() while producers are sending releases every payload once",
          "[conformance][stop][concurrency][tls]") {
  constexpr int kConnections = 16;
  constexpr int kProducers = 3;
  constexpr std::size_t kMaxSends = 5'000'000;  // per producer, plus one after stop()
  constexpr std::size_t kSlotsPerProducer = kMaxSends + 1;
  ReleaseSlots slots(kProducers * kSlotsPerProducer);
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
  std::atomic<bool> stopped{false};  // set once stop() has returned
  std::array<std::size_t, kProducers> sent{};
  std::array<SendResult, kProducers> after_stop{};
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      const std::size_t base = std::size_t(p) * kSlotsPerProducer;
      std::size_t i = 0;
      const auto sendNext = [&] {
        const std::size_t size = 64 + i % 2048;
        const SendResult result =
            targets.connections[(i + p) % kConnections]->send(slots.payload(base + i, size));
        tally.count(result, size);  // a refused payload was released by its Buffer's destructor
        ++i;
        return result;
      };
      // Send until stop() has returned (bounded by count too)...
      while (i < kMaxSends && !stopped.load()) {
        (void)sendNext();
      }
      // ...then once more: a send that starts after stop() returned is refused.
      yieldUntil([&] { return stopped.load(); });
      after_stop[p] = sendNext();
      sent[p] = i;
    });
  }
  // Stop once the producers are well under way: paced by their progress.
  REQUIRE(yieldUntil([&] { return tally.ok.load() >= 50'000; }));
  server->stop();
  for (auto& conn : targets.connections) {
    CHECK_FALSE(conn->isOpen());
  }
  stopped = true;
  for (auto& t : producers) {
    t.join();
  }
  for (auto& record : targets.recordings) {
    CHECK(record->get().close_calls == 1);
    CHECK(record->get().reason.code == CloseCode::kTransportStopped);
  }
  INFO("attempts " << tally.attempts << ", ok " << tally.ok << ", closed " << tally.closed
                   << ", refused " << tally.refused);
  for (int p = 0; p < kProducers; ++p) {
    CHECK(after_stop[p] == SendResult::kClosed);
  }
  // Every payload sent was released exactly once by the time stop()'s
  // connections are gone, and no release callback ran for a slot never used.
  const auto audit = [&] {
    ReleaseSlots::Audit result;
    for (int p = 0; p < kProducers; ++p) {
      slots.audit(std::size_t(p) * kSlotsPerProducer, sent[p],
                  std::size_t(p + 1) * kSlotsPerProducer, result);
    }
    return result;
  };
  const ReleaseSlots::Audit after_join = audit();
  CHECK(after_join.never == 0);
  CHECK(after_join.twice == 0);
  CHECK(after_join.stray == 0);
  server.reset();  // the connections outlive the transport safely...
  const ReleaseSlots::Audit after_reset = audit();
  CHECK(after_reset.twice == 0);  // ...and freeing it releases nothing a second time
  CHECK(after_reset.stray == 0);
}

TEST_CASE("1M sends racing with closes on 1,000 connections: each payload released exactly once",
          "[conformance][close][concurrency][stress][tls]") {
  constexpr int kConnections = 1000;
  constexpr int kProducers = 4;
  constexpr int kSendsPerProducer = 250'000;  // 1M in all
  // Producer p sends its i-th payload to connection (7i + 13p) % 1000: any
  // 1,000 consecutive sends reach every connection exactly once. Its first
  // kConnections sends wait out backpressure (sendBlocking), so each
  // connection accepts one of them; its last kConnections sends wait until
  // every close has been issued.
  constexpr int kRacingSends = kSendsPerProducer - kConnections;
  // The n-th close of each closer waits until every producer has made
  // kConnections + n * kCloseStep sends: nothing is closed before every
  // producer had a send accepted by every connection, and the closes
  // spread over the racing sends.
  constexpr int kCloseStep = (kRacingSends - kConnections) / (kConnections / 2);
  static_assert(kConnections + (kConnections / 2 - 1) * kCloseStep <= kRacingSends);
  ReleaseSlots slots(std::size_t{kProducers} * kSendsPerProducer);
  Tally tally;
  auto sink = std::make_shared<Watched<SinkState>>();
  // What each producer saw of each connection, in its own order.
  static constexpr std::uint8_t kNothing = 0;
  static constexpr std::uint8_t kAccepted = 1;             // kOk, and no kClosed yet
  static constexpr std::uint8_t kClosedAfterAccepted = 2;  // kOk, later kClosed
  static constexpr std::uint8_t kClosedFirst = 3;          // kClosed before any kOk
  struct ProducerLog {
    std::vector<std::uint8_t> seen = std::vector<std::uint8_t>(kConnections, kNothing);
    std::uint64_t ok_after_closed = 0;      // kOk on a connection that had refused as closed
    std::uint64_t closed_unrequested = 0;   // kClosed before anyone asked to close it
    std::uint64_t closed_while_racing = 0;  // kClosed among the racing sends
    std::uint64_t open_after_closes = 0;    // not kClosed once every close() had returned
  };
  std::array<ProducerLog, kProducers> logs;
  std::array<std::atomic<int>, kProducers> progress{};
  auto close_requested = std::make_unique<std::atomic<bool>[]>(kConnections);
  std::atomic<int> closers_done{0};
  {
    RunningTransport server(2);
    RunningTransport clients(2);
    const AcceptLog targets = acceptTargets(*server, *clients, kConnections,
                                            [&] { return std::make_unique<Sink>(sink); });
    std::vector<std::thread> producers;
    for (int p = 0; p < kProducers; ++p) {
      producers.emplace_back([&, p] {
        ProducerLog& log = logs[std::size_t(p)];
        for (int i = 0; i < kSendsPerProducer; ++i) {
          if (i == kRacingSends) {
            yieldUntil([&] { return closers_done.load(std::memory_order_acquire) == 2; });
          }
          const std::size_t c = std::size_t(i * 7 + p * 13) % kConnections;
          const std::size_t size = 1 + std::size_t(i * 37 + p) % kPayload.size();
          Connection& conn = *targets.connections[c];
          Buffer payload = slots.payload(std::size_t(p) * kSendsPerProducer + i, size);
          const SendResult result =
              i < kConnections ? sendBlocking(conn, std::move(payload), targets.recordings[c])
                               : conn.send(std::move(payload));
          tally.count(result, size);  // a refused payload is released with `payload`
          std::uint8_t& seen = log.seen[c];
          if (result == SendResult::kOk) {
            log.ok_after_closed += seen >= kClosedAfterAccepted ? 1 : 0;
            seen = seen == kNothing ? kAccepted : seen;
          } else if (result == SendResult::kClosed) {
            log.closed_unrequested += close_requested[c].load(std::memory_order_acquire) ? 0 : 1;
            log.closed_while_racing += i < kRacingSends ? 1 : 0;
            if (seen == kAccepted) {
              seen = kClosedAfterAccepted;
            } else if (seen == kNothing) {
              seen = kClosedFirst;
            }
          }
          log.open_after_closes += i >= kRacingSends && result != SendResult::kClosed ? 1 : 0;
          progress[std::size_t(p)].store(i + 1, std::memory_order_release);
        }
      });
    }
    // Two closers race the producers, walking the connections from both ends.
    auto closer = [&](int from, int step) {
      for (int n = 0; n < kConnections / 2; ++n) {
        const int goal = kConnections + n * kCloseStep;
        yieldUntil([&] {
          return std::all_of(progress.begin(), progress.end(),
                             [goal](const std::atomic<int>& sent) {
                               return sent.load(std::memory_order_acquire) >= goal;
                             });
        });
        const std::size_t c = std::size_t(from + n * step);
        close_requested[c].store(true, std::memory_order_release);
        targets.connections[c]->close(n % 3 == 0 ? CloseMode::kAbort : CloseMode::kGraceful);
      }
      closers_done.fetch_add(1, std::memory_order_acq_rel);
    };
    std::thread closer_a(closer, 0, 1);
    std::thread closer_b(closer, kConnections - 1, -1);
    for (auto& t : producers) {
      t.join();
    }
    closer_a.join();
    closer_b.join();
    for (std::size_t c = 0; c < targets.connections.size(); ++c) {
      REQUIRE(targets.recordings[c]->waitUntil([](const Recording& r) { return r.closed; }));
      CHECK(targets.recordings[c]->get().close_calls == 1);
      CHECK_FALSE(targets.connections[c]->isOpen());
      CHECK(targets.connections[c]->send(std::string_view("late")) == SendResult::kClosed);
    }
    REQUIRE(sink->waitUntil([](const SinkState& s) { return s.closed == kConnections; }));
  }  // transports stopped: nothing is left in flight
  ReleaseSlots::Audit audit;
  slots.audit(0, slots.size(), slots.size(), audit);
  INFO("ok " << tally.ok << ", closed " << tally.closed << ", refused (backpressure) "
             << tally.refused);
  CHECK(audit.never == 0);
  CHECK(audit.twice == 0);
  CHECK(tally.ok > 0);
  CHECK(sink->get().bytes <= tally.ok_bytes.load());  // nothing beyond what was accepted
  // The race really happened: every close landed inside every producer's
  // stream of sends to that connection, between a send it accepted and one
  // it refused as closed, and a close was the only thing that refused one.
  std::uint64_t raced = 0;
  std::uint64_t closed_first = 0;
  std::uint64_t closed_while_racing = 0;
  for (const ProducerLog& log : logs) {
    raced += static_cast<std::uint64_t>(
        std::count(log.seen.begin(), log.seen.end(), kClosedAfterAccepted));
    closed_first +=
        static_cast<std::uint64_t>(std::count(log.seen.begin(), log.seen.end(), kClosedFirst));
    closed_while_racing += log.closed_while_racing;
    CHECK(log.ok_after_closed == 0);
    CHECK(log.closed_unrequested == 0);
    CHECK(log.open_after_closes == 0);
  }
  INFO("sends refused as closed while producers and closers raced: " << closed_while_racing);
  CHECK(closed_first == 0);
  CHECK(raced == std::uint64_t{kProducers} * kConnections);
}
