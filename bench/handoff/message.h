// What the handoff benchmark moves from producers to loops.
#pragma once

#include <cstdint>
#include <semaphore>

#include "spool/mpsc_queue.h"

namespace spool::bench {

/// A trivial payload. Each (producer, loop) channel owns a ring of these, so
/// nothing is allocated per message; the intrusive hook lets the inbox
/// strategies queue it without a node of their own (as spool queues a Buffer).
struct Message : MpscHook {
  std::uint64_t ts = 0;         ///< producer's nowNs() for sampled messages, else 0
  std::uint32_t producer = 0;
  std::uint32_t loop = 0;
  std::binary_semaphore* done = nullptr;  ///< run-and-wait: released once the loop ran it
};

/// What a copying strategy (locked) copies per message.
struct MessageRecord {
  std::uint64_t ts;
  std::uint32_t producer;
  std::uint32_t loop;
};

/// Loop side of the benchmark: what every strategy calls for each message it
/// hands over. Loop thread only, one loop index per thread.
class MessageSink {
 public:
  virtual ~MessageSink() = default;
  /// One message arrived on loop `loop`.
  virtual void receive(unsigned loop, std::uint32_t producer, std::uint64_t ts,
                       std::binary_semaphore* done) noexcept = 0;
  /// The strategy's callback is about to return: publish progress.
  virtual void flush(unsigned loop) noexcept = 0;
};

/// One way of handing messages to loops. start()/stop() on the main thread;
/// send() on producer threads.
class HandoffStrategy {
 public:
  virtual ~HandoffStrategy() = default;
  virtual void start() = 0;
  /// Hands `msg` to loop msg->loop. Thread-safe. The message stays valid
  /// until the sink has received it.
  virtual void send(Message* msg) noexcept = 0;
  virtual void stop() = 0;
  /// Inbox strategies: drains that found a producer between its exchange
  /// and its link (kPending) and re-armed themselves. After stop().
  [[nodiscard]] virtual std::uint64_t pendingRearms() const noexcept { return 0; }
  /// False when the loops' event bases are created without locks, so a
  /// producer's libevent call could not be counted here (the spool strategy:
  /// tests/libevent_backend/lock_count_test.cpp is that proof).
  [[nodiscard]] virtual bool countsProducerLocks() const noexcept { return true; }
};

}  // namespace spool::bench
