#include "handoff_run.h"

#include <sched.h>

#include <atomic>
#include <latch>
#include <memory>
#include <thread>
#include <vector>

#include "histogram.h"
#include "lock_counter.h"
#include "strategies.h"
#include "usage.h"

namespace spool::bench {
namespace {

// Producers re-read the clock (and the message limit) this often.
constexpr std::uint64_t kCheckEvery = 256;
// Loops publish progress to producers at least this often per channel.
constexpr std::uint64_t kPublishEvery = 256;
// A producer that cannot send for this long past its deadline, or loops that
// have not caught up this long after the producers stopped, mean a lost
// message or a stuck loop: the run fails instead of hanging.
constexpr std::uint64_t kStuckLimitNs = 10'000'000'000;

/// Messages one producer has in flight to one loop: a ring reused as the
/// loop consumes, which is also the window that bounds the queue.
struct alignas(64) Channel {
  std::unique_ptr<Message[]> ring;
  std::uint64_t sent = 0;            // producer only
  std::uint64_t consumed_seen = 0;   // producer's cached copy of `consumed`
  alignas(64) std::atomic<std::uint64_t> consumed{0};  // written by the loop only
};

/// Loop-side tallies; one per loop, touched by that loop's thread only.
struct alignas(64) LoopTally {
  LatencyHistogram latency;
  std::vector<std::uint64_t> consumed;  // per producer
};

struct ProducerTally {
  LatencyHistogram send;
  std::uint64_t send_ns_sum = 0;
  std::uint64_t window_full = 0;
  std::uint64_t locks = 0;
  ThreadUsage usage;
  bool stuck = false;
};

class HandoffBench final : public MessageSink {
 public:
  explicit HandoffBench(const HandoffConfig& config)
      : config_(config), channels_(config.producers * config.loops), loops_(config.loops),
        producers_(config.producers) {
    for (auto& ch : channels_) {
      ch.ring = std::make_unique<Message[]>(config.window);
    }
    for (auto& tally : loops_) {
      tally.consumed.assign(config.producers, 0);
    }
  }

  // MessageSink
  void receive(unsigned loop, std::uint32_t producer, std::uint64_t ts,
               std::binary_semaphore* done) noexcept override {
    LoopTally& tally = loops_[loop];
    if (ts != 0) {
      tally.latency.record(nowNs() - ts);
    }
    if (++tally.consumed[producer] % kPublishEvery == 0) {
      channel(producer, loop).consumed.store(tally.consumed[producer], std::memory_order_release);
    }
    if (done != nullptr) {
      done->release();
    }
  }
  void flush(unsigned loop) noexcept override {
    LoopTally& tally = loops_[loop];
    for (unsigned p = 0; p < config_.producers; ++p) {
      channel(p, loop).consumed.store(tally.consumed[p], std::memory_order_release);
    }
  }

  HandoffResult run(HandoffStrategy& strategy);

 private:
  Channel& channel(unsigned producer, unsigned loop) noexcept {
    return channels_[producer * config_.loops + loop];
  }
  void produce(unsigned p, HandoffStrategy& strategy, std::uint64_t start_ns);
  bool waitForWindow(Channel& ch, std::uint64_t give_up_ns) noexcept;
  HandoffResult summarize(std::uint64_t elapsed_ns, bool drained) const;

  const HandoffConfig config_;
  std::vector<Channel> channels_;
  std::vector<LoopTally> loops_;
  std::vector<ProducerTally> producers_;
};

bool HandoffBench::waitForWindow(Channel& ch, std::uint64_t give_up_ns) noexcept {
  for (unsigned spins = 0;; ++spins) {
    ch.consumed_seen = ch.consumed.load(std::memory_order_acquire);
    if (ch.sent - ch.consumed_seen < config_.window) {
      return true;
    }
    if (spins < 64) {
      __builtin_ia32_pause();
      continue;
    }
    // Let the loop run (2 cores, more threads than cores); yielding keeps the
    // wait out of the voluntary-context-switch count the table reports.
    sched_yield();
    if (spins % 1024 == 0 && nowNs() > give_up_ns) {
      return false;
    }
  }
}

void HandoffBench::produce(unsigned p, HandoffStrategy& strategy, std::uint64_t start_ns) {
  ProducerTally& tally = producers_[p];
  const ThreadUsage usage_before = ThreadUsage::now();
  const std::uint64_t locks_before = libevent::testing::locksTakenByThisThread();
  const std::uint64_t deadline = start_ns + static_cast<std::uint64_t>(config_.duration_s * 1e9);
  const unsigned loops = config_.loops;
  for (std::uint64_t i = 0;; ++i) {
    if (i % kCheckEvery == 0 &&
        ((config_.max_messages != 0 && i >= config_.max_messages) || nowNs() >= deadline)) {
      break;
    }
    const unsigned loop = static_cast<unsigned>((p + i) % loops);
    Channel& ch = channel(p, loop);
    if (ch.sent - ch.consumed_seen >= config_.window) {
      ++tally.window_full;
      if (!waitForWindow(ch, deadline + kStuckLimitNs)) {
        tally.stuck = true;
        break;
      }
    }
    Message& msg = ch.ring[ch.sent & (config_.window - 1)];
    msg.producer = p;
    msg.loop = loop;
    msg.done = nullptr;
    if (i % config_.sample_every == 0) {
      const std::uint64_t t0 = nowNs();
      msg.ts = t0;
      strategy.send(&msg);
      const std::uint64_t took = nowNs() - t0;
      tally.send.record(took);
      tally.send_ns_sum += took;
    } else {
      msg.ts = 0;
      strategy.send(&msg);
    }
    ++ch.sent;
  }
  tally.locks = libevent::testing::locksTakenByThisThread() - locks_before;
  tally.usage = ThreadUsage::now() - usage_before;
}

HandoffResult HandoffBench::run(HandoffStrategy& strategy) {
  strategy.start();
  std::latch ready(config_.producers + 1);
  std::atomic<std::uint64_t> start_ns{0};
  std::vector<std::thread> threads;
  for (unsigned p = 0; p < config_.producers; ++p) {
    threads.emplace_back([&, p] {
      ready.arrive_and_wait();
      produce(p, strategy, start_ns.load());
    });
  }
  start_ns.store(nowNs());
  ready.arrive_and_wait();
  for (auto& t : threads) {
    t.join();
  }
  // Wait until the loops have consumed everything that was sent.
  const std::uint64_t give_up = nowNs() + kStuckLimitNs;
  bool drained = false;
  std::uint64_t end_ns = nowNs();
  while (!drained && end_ns < give_up) {
    drained = true;
    for (auto& ch : channels_) {
      drained = drained && ch.consumed.load(std::memory_order_acquire) >= ch.sent;
    }
    end_ns = nowNs();
    if (!drained) {
      std::this_thread::sleep_for(std::chrono::microseconds(20));
    }
  }
  strategy.stop();
  HandoffResult result = summarize(end_ns - start_ns.load(), drained);
  result.pending_rearms = strategy.pendingRearms();
  if (!strategy.countsProducerLocks()) {
    result.producer_libevent_locks = -1;
  }
  return result;
}

HandoffResult HandoffBench::summarize(std::uint64_t elapsed_ns, bool drained) const {
  HandoffResult r;
  LatencyHistogram send;
  LatencyHistogram latency;
  ThreadUsage usage;
  std::uint64_t send_sum = 0;
  std::uint64_t window_full = 0;
  for (const auto& tally : producers_) {
    send.merge(tally.send);
    send_sum += tally.send_ns_sum;
    window_full += tally.window_full;
    usage += tally.usage;
    r.producer_libevent_locks += static_cast<std::int64_t>(tally.locks);
    if (tally.stuck) {
      r.ok = false;
      r.error = "a producer waited over 10 s for its window";
    }
  }
  for (const auto& tally : loops_) {
    latency.merge(tally.latency);
  }
  for (unsigned p = 0; p < config_.producers; ++p) {
    for (unsigned l = 0; l < config_.loops; ++l) {
      const std::uint64_t sent = channels_[p * config_.loops + l].sent;
      r.messages += sent;
      if (loops_[l].consumed[p] != sent) {
        r.ok = false;
        r.error = "producer " + std::to_string(p) + " sent " + std::to_string(sent) + " to loop " +
                  std::to_string(l) + ", which received " + std::to_string(loops_[l].consumed[p]);
      }
    }
  }
  if (!drained && r.ok) {
    r.ok = false;
    r.error = "the loops did not catch up within 10 s";
  }
  const double msgs = static_cast<double>(std::max<std::uint64_t>(r.messages, 1));
  r.seconds = seconds(elapsed_ns);
  r.messages_per_s = static_cast<double>(r.messages) / r.seconds;
  r.send_ns_mean = send.count() ? static_cast<double>(send_sum) / static_cast<double>(send.count()) : 0;
  r.send_p50_ns = send.quantile(0.5);
  r.send_p99_ns = send.quantile(0.99);
  r.send_p999_ns = send.quantile(0.999);
  r.send_max_ns = send.max();
  r.latency_p50_ns = latency.quantile(0.5);
  r.latency_p99_ns = latency.quantile(0.99);
  r.latency_p999_ns = latency.quantile(0.999);
  r.latency_max_ns = latency.max();
  r.write_syscalls_per_msg = static_cast<double>(usage.write_syscalls) / msgs;
  r.voluntary_switches_per_msg = static_cast<double>(usage.voluntary_switches) / msgs;
  r.window_full_per_msg = static_cast<double>(window_full) / msgs;
  return r;
}

}  // namespace

HandoffResult runHandoff(const HandoffConfig& config) {
  HandoffBench bench(config);
  auto strategy = makeHandoffStrategy(config.strategy, config.loops, bench);
  if (!strategy) {
    HandoffResult r;
    r.ok = false;
    r.error = "unknown strategy '" + config.strategy + "'";
    return r;
  }
  return bench.run(*strategy);
}

}  // namespace spool::bench
