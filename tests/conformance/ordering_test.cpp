// Ordering guarantees of Connection::send: FIFO per producer thread, and
// happens-before across threads.
#include <catch2/catch.hpp>

#include <atomic>
#include <cstring>
#include <thread>

#include "test_support.h"

using namespace spool;
using namespace spool::test;

namespace {

/// A frame: [producer id: 1 byte][sequence: 4 bytes little-endian].
constexpr std::size_t kFrame = 5;

Buffer frame(std::uint8_t producer, std::uint32_t sequence) {
  Buffer buffer = Buffer::allocate(kFrame);
  std::byte bytes[kFrame];
  bytes[0] = static_cast<std::byte>(producer);
  std::memcpy(bytes + 1, &sequence, 4);
  buffer.append(std::span<const std::byte>(bytes, kFrame));
  return buffer;
}

struct OrderState {
  std::vector<std::uint32_t> next;  // expected sequence per producer
  std::uint64_t frames = 0;
  std::uint64_t errors = 0;
  std::vector<std::uint8_t> producers_in_order;  // for the happens-before test
};

/// Parses frames and checks each producer's sequence is 0, 1, 2, ...
class OrderChecker final : public ConnectionHandler {
 public:
  OrderChecker(std::shared_ptr<Watched<OrderState>> state, bool keep_order)
      : state_(std::move(state)), keep_order_(keep_order) {}
  void onData(Connection&, InputBuffer& input) override {
    const std::size_t frames = input.size() / kFrame;
    const auto bytes = input.contiguous(frames * kFrame);
    state_->update([&](OrderState& s) {
      for (std::size_t f = 0; f < frames; ++f) {
        const auto producer = static_cast<std::uint8_t>(bytes[f * kFrame]);
        std::uint32_t sequence;
        std::memcpy(&sequence, bytes.data() + f * kFrame + 1, 4);
        if (producer >= s.next.size()) {
          s.next.resize(producer + 1, 0);
        }
        s.errors += sequence == s.next[producer] ? 0 : 1;
        s.next[producer] = sequence + 1;
        ++s.frames;
        if (keep_order_) {
          s.producers_in_order.push_back(producer);
        }
      }
    });
    input.consume(frames * kFrame);
    input.wantBytes(kFrame);
  }

 private:
  std::shared_ptr<Watched<OrderState>> state_;
  bool keep_order_;
};

/// Frames that break strict alternation of producers 0 and 1.
std::uint64_t outOfTurn(const OrderState& s) {
  std::uint64_t count = 0;
  for (std::size_t i = 0; i < s.producers_in_order.size(); ++i) {
    count += s.producers_in_order[i] == (i % 2) ? 0 : 1;
  }
  return count;
}

}  // namespace

TEST_CASE("sends from many threads to many connections keep per-producer order",
          "[conformance][ordering][concurrency][tls]") {
  constexpr int kConnections = 16;
  constexpr int kProducers = 4;
  constexpr std::uint32_t kPerConnection = 10'000;
  RunningTransport server(2);
  RunningTransport clients(2);
  std::vector<std::shared_ptr<Watched<OrderState>>> states;
  const AcceptLog targets = acceptTargets(*server, *clients, kConnections, [&] {
    states.push_back(std::make_shared<Watched<OrderState>>());
    return std::make_unique<OrderChecker>(states.back(), false);
  });

  std::atomic<int> failures{0};
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      for (std::uint32_t seq = 0; seq < kPerConnection; ++seq) {
        for (int c = 0; c < kConnections; ++c) {
          const auto result = sendBlocking(*targets.connections[c],
                                           frame(static_cast<std::uint8_t>(p), seq),
                                           targets.recordings[c]);
          if (result != SendResult::kOk) {
            ++failures;
            return;  // e.g. onWritable never came: waiting again would only repeat it
          }
        }
      }
    });
  }
  for (auto& t : producers) {
    t.join();
  }
  REQUIRE(failures == 0);
  // Clients were made in accept order only by chance; check them all.
  for (auto& state : states) {
    REQUIRE(state->waitUntil([](const OrderState& s) { return s.frames == kProducers * kPerConnection; }));
    const OrderState s = state->get();
    CHECK(s.errors == 0);
    for (int p = 0; p < kProducers; ++p) {
      CHECK(s.next[p] == kPerConnection);
    }
  }
}

TEST_CASE("a send that happens-before another arrives before it",
          "[conformance][ordering][concurrency][tls]") {
  // Two threads take turns: each sends, then hands the turn to the other
  // through an atomic. The receiver must see strict alternation.
  constexpr std::uint32_t kRounds = 20'000;
  RunningTransport server(2);
  RunningTransport clients(2);
  auto state = std::make_shared<Watched<OrderState>>();
  const AcceptLog targets = acceptTargets(*server, *clients, 1, [&] {
    return std::make_unique<OrderChecker>(state, true);
  });
  auto& conn = *targets.connections[0];
  std::atomic<std::uint32_t> turn{0};  // even: thread 0, odd: thread 1
  std::atomic<int> failures{0};
  auto player = [&](std::uint8_t me) {
    for (std::uint32_t round = 0; round < kRounds; ++round) {
      const std::uint32_t mine = round * 2 + me;
      while (turn.load(std::memory_order_acquire) != mine && failures == 0) {
        std::this_thread::yield();
      }
      if (failures != 0) {
        return;  // a player gave up: the turns stop here
      }
      failures += sendBlocking(conn, frame(me, round), targets.recordings[0]) == SendResult::kOk ? 0 : 1;
      turn.store(mine + 1, std::memory_order_release);
    }
  };
  std::thread a(player, 0);
  std::thread b(player, 1);
  a.join();
  b.join();
  REQUIRE(failures == 0);
  REQUIRE(state->waitUntil([](const OrderState& s) { return s.frames == 2 * kRounds; }));
  const OrderState s = state->get();
  CHECK(outOfTurn(s) == 0);
  CHECK(s.errors == 0);
}

namespace {

/// On any byte, sends the next "loop" frame on `target` from the loop thread.
class LoopSender final : public ConnectionHandler {
 public:
  LoopSender(std::shared_ptr<Watched<ConnectionPtr>> target, std::shared_ptr<Watched<std::uint32_t>> sent)
      : target_(std::move(target)), sent_(std::move(sent)) {}
  void onData(Connection&, InputBuffer& input) override {
    const ConnectionPtr target = target_->get();
    for (std::size_t i = 0; i < input.size(); ++i) {
      (void)target->send(frame(1, next_++));
    }
    input.consume(input.size());
    sent_->update([&](std::uint32_t& n) { n = next_; });
  }

 private:
  std::shared_ptr<Watched<ConnectionPtr>> target_;
  std::shared_ptr<Watched<std::uint32_t>> sent_;
  std::uint32_t next_ = 0;
};

}  // namespace

TEST_CASE("a loop-thread send does not overtake a queued send that happened before it",
          "[conformance][ordering][concurrency][tls]") {
  // One server loop owns both connections, so the loop's send on `target` is
  // the direct (no inbox) path, racing with a producer's queued send.
  constexpr std::uint32_t kRounds = 5'000;
  RunningTransport server(1);
  RunningTransport clients(1);
  auto state = std::make_shared<Watched<OrderState>>();
  const AcceptLog targets = acceptTargets(*server, *clients, 1, [&] {
    return std::make_unique<OrderChecker>(state, true);
  });
  auto target = std::make_shared<Watched<ConnectionPtr>>(targets.connections[0]);
  auto loop_sent = std::make_shared<Watched<std::uint32_t>>(0);
  auto listener = server->listen(serverOptions(), [&] {
    return std::make_unique<LoopSender>(target, loop_sent);
  });
  auto trigger_record = std::make_shared<Watched<Recording>>();
  auto trigger = connectAndWait(*clients, listener->port(), trigger_record);

  for (std::uint32_t round = 0; round < kRounds; ++round) {
    REQUIRE(targets.connections[0]->send(frame(0, round)) == SendResult::kOk);
    REQUIRE(trigger->send(std::string_view("x")) == SendResult::kOk);
    REQUIRE(loop_sent->waitUntil([round](std::uint32_t n) { return n == round + 1; }));
  }
  REQUIRE(state->waitUntil([](const OrderState& s) { return s.frames == 2 * kRounds; }));
  const OrderState s = state->get();
  CHECK(outOfTurn(s) == 0);  // no loop-thread frame overtook a queued one
  CHECK(s.errors == 0);
  const auto stats = total(server->stats());
  CHECK(stats.messages_direct > 0);  // the fast path was exercised
}

TEST_CASE("runInLoop runs on the loop thread, ordered like a send", "[conformance][ordering][tls]") {
  RunningTransport server(2);
  RunningTransport clients(1);
  auto state = std::make_shared<Watched<OrderState>>();
  const AcceptLog targets = acceptTargets(*server, *clients, 1, [&] {
    return std::make_unique<OrderChecker>(state, true);
  });
  ConnectionPtr conn = targets.connections[0];
  std::atomic<int> on_loop{0};
  std::thread worker([&] {
    for (std::uint32_t round = 0; round < 2'000; ++round) {
      (void)conn->send(frame(0, round));
      // The task sends from the loop thread (the direct path when the inbox
      // is empty): it must still come after the send queued just before it.
      conn->runInLoop([conn, round, &on_loop] {
        on_loop += conn->inLoopThread() ? 1 : 0;
        conn->pauseReading();  // a loop-only method: asserts the thread
        conn->resumeReading();
        (void)conn->send(frame(1, round));
      });
    }
  });
  worker.join();
  REQUIRE(state->waitUntil([](const OrderState& s) { return s.frames == 4'000; }));
  CHECK(on_loop == 2'000);
  // Frame (1, r) was sent by a task queued after frame (0, r): when it
  // arrives, at least r + 1 frames of producer 0 must have arrived.
  const OrderState s = state->get();
  std::uint32_t zeros = 0;
  std::uint32_t ones = 0;
  std::uint64_t early = 0;
  for (const auto producer : s.producers_in_order) {
    if (producer == 0) {
      ++zeros;
    } else {
      early += zeros > ones ? 0 : 1;
      ++ones;
    }
  }
  CHECK(early == 0);
  CHECK(s.errors == 0);
}
