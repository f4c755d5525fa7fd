#include "producer_scenario.h"

#include <catch2/catch.hpp>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "test_pki.h"
#include "test_support.h"

namespace spool::test {

ProducerScenarioResult runProducerScenario(const ProducerScenario& scenario,
                                           const std::function<void()>& before_sending) {
  constexpr int kConnections = 16;
  constexpr int kProducers = 4;
  constexpr std::size_t kMessage = 32;

  RunningTransport transport(2);
  auto accepted = std::make_shared<Watched<AcceptLog>>();
  ListenOptions listen_options;
  // A budget the producers outrun: refusals, and onWritable, are part of
  // every run (the default 1 MiB is rarely reached by 32-byte messages, and
  // 16 KiB was not always reached by 20,000 per producer under
  // ThreadSanitizer on a loaded machine: 32 messages queued ahead of the
  // loop's write are).
  listen_options.connection.send_high_watermark = 1 << 10;
  listen_options.connection.send_low_watermark = 256;
  if (scenario.tls) {
    listen_options.tls = serverTls();
  }
  auto listener = transport->listen(listen_options, [accepted] { return std::make_unique<TargetHandler>(accepted); });
  auto received = std::make_shared<Watched<std::uint64_t>>(0);
  std::vector<ConnectionPtr> clients;
  for (int i = 0; i < kConnections; ++i) {
    ConnectOptions options;
    options.port = listener->port();
    if (scenario.tls) {
      options.tls = clientTls();
    }
    clients.push_back(transport->connect(options, std::make_unique<ByteCounter>(received)));
  }
  REQUIRE(accepted->waitUntil([](const AcceptLog& l) { return l.connections.size() == kConnections; }));
  const AcceptLog targets = accepted->get();
  const LoopStats before = total(transport->stats());
  if (before_sending) {
    before_sending();
  }

  std::atomic<int> unexpected_results{0};  // Catch2 assertions are not thread-safe
  std::atomic<int> missed_writable{0};     // refusals never followed by onWritable
  std::atomic<std::uint64_t> refusals{0};
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      const std::string payload(kMessage, static_cast<char>('a' + p));
      if (scenario.on_start) {
        scenario.on_start(p);
      }
      for (int i = 0; i < scenario.per_producer && missed_writable == 0; ++i) {
        const int c = (i + p) % kConnections;
        Buffer buffer = Buffer::copyOf(payload);
        for (;;) {
          const int seen = targets.recordings[c]->get().writable_calls;
          if (scenario.before_send) {
            scenario.before_send();
          }
          const SendResult result = targets.connections[c]->send(std::move(buffer));
          if (result != SendResult::kBackpressure) {
            unexpected_results += result == SendResult::kOk ? 0 : 1;
            break;
          }
          refusals.fetch_add(1, std::memory_order_relaxed);
          // The payload is still ours. onWritable() follows every refusal:
          // waiting out the bound is the failure (re-polling would go on
          // without it).
          if (!targets.recordings[c]->waitUntil(
                  [seen](const Recording& r) { return r.writable_calls > seen; }, kWaitLimit)) {
            ++missed_writable;
            break;
          }
        }
      }
      if (scenario.on_end) {
        scenario.on_end(p);
      }
    });
  }
  for (auto& t : producers) {
    t.join();
  }
  INFO(refusals.load() << " sends refused");
  REQUIRE(missed_writable == 0);
  REQUIRE(unexpected_results == 0);
  REQUIRE(refusals.load() > 0);  // else onWritable was never needed: nothing proven
  ProducerScenarioResult result;
  result.refusals = refusals.load();
  result.messages = std::uint64_t{kProducers} * static_cast<std::uint64_t>(scenario.per_producer);
  REQUIRE(received->waitUntil([&](std::uint64_t got) { return got == result.messages * kMessage; }));
  const LoopStats after = total(transport->stats());
  result.wakeups = after.wakeups_requested - before.wakeups_requested;
  result.wakeups_served = after.wakeups_served - before.wakeups_served;
  result.drain_batches = after.drain_batches - before.drain_batches;
  return result;
}

}  // namespace spool::test
