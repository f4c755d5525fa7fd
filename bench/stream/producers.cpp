#include "producers.h"

#include <pthread.h>

#include <chrono>
#include <string>

namespace spool::bench {
namespace {

// How often (in passes) a producer looks for opened or closed connections
// and for the stop flag.
constexpr unsigned kRefreshEvery = 64;
// Safety net for a lost wake-up: a sleeping producer retries everything this often.
constexpr std::chrono::milliseconds kSleepLimit{10};

struct Owned {
  StreamSlotPtr slot;
  bool paused = false;
  std::uint32_t paused_epoch = 0;  // writable_epoch when the refusal happened
};

}  // namespace

void ProducerPool::start() {
  for (unsigned p = 0; p < registry_.producers(); ++p) {
    threads_.emplace_back([this, p] {
      pthread_setname_np(pthread_self(), ("producer-" + std::to_string(p)).c_str());
      run(p);
    });
  }
}

void ProducerPool::stop() {
  stop_.store(true);
  for (unsigned p = 0; p < threads_.size(); ++p) {
    registry_.waker(p).notify();
  }
  for (auto& t : threads_) {
    t.join();
  }
  threads_.clear();
}

void ProducerPool::run(unsigned producer) {
  Waker& waker = registry_.waker(producer);
  std::vector<Owned> owned;
  std::uint64_t seen_version = ~std::uint64_t{0};
  std::uint64_t sent = 0;
  for (unsigned pass = 0;; ++pass) {
    if (pass % kRefreshEvery == 0) {
      if (stop_.load(std::memory_order_relaxed)) {
        break;
      }
      if (const auto v = registry_.version(); v != seen_version) {
        seen_version = v;
        std::vector<Owned> fresh;
        for (auto& slot : registry_.slotsOf(producer)) {
          fresh.push_back({slot});
        }
        owned.swap(fresh);
      }
    }
    bool progressed = false;
    for (auto& o : owned) {
      if (o.paused && o.slot->writable_epoch.load(std::memory_order_acquire) == o.paused_epoch) {
        continue;
      }
      o.paused = false;
      const std::uint32_t epoch = o.slot->writable_epoch.load(std::memory_order_acquire);
      switch (o.slot->send()) {
        case SendOutcome::kOk:
          ++o.slot->next_seq;
          ++sent;
          progressed = true;
          break;
        case SendOutcome::kBackpressure:
          o.paused = true;
          o.paused_epoch = epoch;
          break;
        case SendOutcome::kClosed:
          o.paused = true;  // dropped at the next refresh
          o.paused_epoch = epoch;
          break;
      }
    }
    if (!progressed) {
      sent_.fetch_add(sent, std::memory_order_relaxed);
      sent = 0;
      const auto any_ready = [&] {
        if (stop_.load() || registry_.version() != seen_version) {
          return true;
        }
        for (const auto& o : owned) {
          if (!o.paused || o.slot->writable_epoch.load(std::memory_order_seq_cst) != o.paused_epoch) {
            return true;
          }
        }
        return false;
      };
      waker.wait(any_ready, kSleepLimit);
      pass = kRefreshEvery - 1;  // look at the registry and the stop flag next
      // Slept the whole limit with nothing announced: retry every connection
      // (a refusal re-pauses it) rather than trust that no wake-up was lost.
      const bool timed_out = !any_ready();
      for (auto& o : owned) {
        o.paused = o.paused && !timed_out &&
                   o.slot->writable_epoch.load(std::memory_order_acquire) == o.paused_epoch;
      }
    }
  }
  sent_.fetch_add(sent, std::memory_order_relaxed);
}

}  // namespace spool::bench
