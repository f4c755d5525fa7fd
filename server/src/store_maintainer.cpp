#include "store_maintainer.h"

#include <malloc.h>

namespace spoold {

StoreMaintainer::StoreMaintainer(Store& store, const Options& options)
    : store_(store), options_(options), crawler_(options.crawler) {}

StoreMaintainer::~StoreMaintainer() {
  stop();
}

void StoreMaintainer::start() {
  if (!thread_.joinable()) {
    thread_ = std::jthread([this](const std::stop_token& stop) { loop(stop); });
  }
}

void StoreMaintainer::stop() {
  if (thread_.joinable()) {
    thread_.request_stop();  // wakes the condition_variable_any wait
    thread_.join();
  }
}

StoreMaintainer::CrawlStart StoreMaintainer::crawl(const ClassMask& classes) {
  if (!crawlerEnabled()) {
    return CrawlStart::kDisabled;
  }
  {
    std::lock_guard lock(mutex_);
    if (requested_.any() || running_.load(std::memory_order_relaxed)) {
      return CrawlStart::kBusy;  // memcached: one crawl at a time (an automatic one too)
    }
    requested_ = classes;
  }
  cv_.notify_all();
  return CrawlStart::kStarted;
}

bool StoreMaintainer::enableCrawler() noexcept {
  return !crawler_.exchange(true);
}

void StoreMaintainer::disableCrawler() noexcept {
  crawler_.store(false);
}

StoreMaintainer::Stats StoreMaintainer::stats() const noexcept {
  return Stats{running_.load(std::memory_order_relaxed), starts_.load(std::memory_order_relaxed),
               juggles_.load(std::memory_order_relaxed)};
}

bool StoreMaintainer::busy() const {
  std::lock_guard lock(mutex_);
  return requested_.any() || running_.load(std::memory_order_relaxed);
}

std::uint64_t StoreMaintainer::nextPass() const {
  std::lock_guard lock(mutex_);
  return started_ + 1;
}

std::uint64_t StoreMaintainer::wake() {
  std::uint64_t next = 0;
  {
    std::lock_guard lock(mutex_);
    woken_ = true;
    next = started_ + 1;
  }
  cv_.notify_all();
  return next;
}

bool StoreMaintainer::waitForPass(std::uint64_t pass, std::chrono::milliseconds limit) {
  std::unique_lock lock(mutex_);
  return cv_.wait_for(lock, limit, [&] { return completed_ >= pass; });
}

void StoreMaintainer::loop(const std::stop_token& stop) {
  std::unique_lock lock(mutex_);
  while (!stop.stop_requested()) {
    cv_.wait_for(lock, stop, options_.period, [&] { return requested_.any() || woken_; });
    if (stop.stop_requested()) {
      break;
    }
    const ClassMask requested = requested_;
    woken_ = false;
    ++started_;
    if (requested.any()) {
      running_.store(true,
                     std::memory_order_relaxed);  // before `requested_` is cleared: still busy
      requested_.reset();
    }
    lock.unlock();  // never a shard's lock under this one
    pass(requested);
    // main() lets each thread's arena keep 16 MiB of freed memory, so that a
    // busy loop does not give pages back and fault them in again hundreds of
    // times a second; once a second, give back what a burst left behind (a
    // deep pipeline, a client that never read), as memcached's slabs would
    // not have taken it. It locks each arena briefly, never a shard.
    malloc_trim(0);
    lock.lock();
    ++completed_;
    cv_.notify_all();
  }
}

void StoreMaintainer::pass(const ClassMask& requested) {
  juggles_.fetch_add(1, std::memory_order_relaxed);
  if (requested.any()) {
    crawlShards(requested, [](std::size_t) { return true; });
  } else if (options_.maintainer && crawlerEnabled()) {
    // The automatic crawl: only the shards whose hints say an item is dead
    // (reading 64 hints is all a pass costs while nothing expires).
    crawlShards(ClassMask{}.set(), [this](std::size_t index) { return store_.mayHoldDead(index); });
  }
}

template <typename Pick>
void StoreMaintainer::crawlShards(const ClassMask& classes, Pick&& pick) {
  bool started = false;
  for (std::size_t index = 0; index < Store::kShards && crawlerEnabled(); ++index) {
    if (!pick(index)) {
      continue;
    }
    if (!started) {
      started = true;
      running_.store(true, std::memory_order_relaxed);
      starts_.fetch_add(1, std::memory_order_relaxed);
    }
    store_.crawlShard(index, classes);
  }
  running_.store(false, std::memory_order_relaxed);
}

}  // namespace spoold
