// memcached's LRU maintainer and LRU crawler: one background thread that
// reclaims dead items without waiting for a client to touch them.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

#include "store.h"

namespace spoold {

/// Reclaims expired and flushed items in the background, off every
/// connection's path. Each pass (every `period`, or at once when woken)
/// crawls the shards whose dead hint is due (the maintainer's automatic
/// crawl, with `lru_maintainer` and `lru_crawler` both on) and, when a
/// client asked with `lru_crawler crawl <classes>`, every shard for those
/// classes. A crawl holds one shard's lock while it walks that shard.
///
/// Thread-safe: every method may be called from any thread; start() and
/// stop() not concurrently with each other.
class StoreMaintainer {
 public:
  struct Options {
    bool maintainer = true;  ///< -o lru_maintainer / no_lru_maintainer: automatic crawls
    bool crawler = true;     ///< -o lru_crawler / no_lru_crawler (lru_crawler enable|disable)
    std::chrono::milliseconds period{1000};  ///< memcached's maintainer sleeps up to 1 s
  };
  /// What `lru_crawler crawl` gets.
  enum class CrawlStart : std::uint8_t { kStarted, kBusy, kDisabled };
  /// memcached's names: lru_crawler_running, lru_crawler_starts, lru_maintainer_juggles.
  struct Stats {
    bool running = false;
    std::uint64_t starts = 0;
    std::uint64_t juggles = 0;
  };

  StoreMaintainer(Store& store, const Options& options);
  ~StoreMaintainer();
  StoreMaintainer(const StoreMaintainer&) = delete;
  StoreMaintainer& operator=(const StoreMaintainer&) = delete;

  /// Starts the thread (the server does, once it is set up). Idempotent.
  void start();
  /// Stops and joins the thread; a crawl in progress ends after its shard. Idempotent.
  void stop();

  /// `lru_crawler crawl`: queues a crawl of `classes` for the thread.
  CrawlStart crawl(const ClassMask& classes);
  /// `lru_crawler enable`: false when it already is (memcached then answers
  /// "ERROR failed to start lru crawler thread").
  bool enableCrawler() noexcept;
  /// `lru_crawler disable`.
  void disableCrawler() noexcept;
  [[nodiscard]] bool crawlerEnabled() const noexcept {
    return crawler_.load(std::memory_order_relaxed);
  }
  [[nodiscard]] bool maintainerEnabled() const noexcept { return options_.maintainer; }
  [[nodiscard]] Stats stats() const noexcept;
  /// Whether a crawl runs or waits to run (a new one would be BUSY).
  [[nodiscard]] bool busy() const;

  /// The number of the next pass to start: it sees everything done before
  /// this call (a store, a clock change).
  [[nodiscard]] std::uint64_t nextPass() const;
  /// Runs a pass now instead of at the end of the period. @return nextPass().
  std::uint64_t wake();
  /// Waits until pass number `pass` has completed; false on timeout.
  bool waitForPass(std::uint64_t pass, std::chrono::milliseconds limit);

 private:
  void loop(const std::stop_token& stop);
  /// One pass: the requested crawl, or the automatic one.
  void pass(const ClassMask& requested);
  /// Crawls the shards that `pick` selects, counting one crawler start.
  template <typename Pick>
  void crawlShards(const ClassMask& classes, Pick&& pick);

  Store& store_;
  const Options options_;
  std::atomic<bool> crawler_;
  std::atomic<bool> running_{false};
  std::atomic<std::uint64_t> starts_{0};
  std::atomic<std::uint64_t> juggles_{0};

  mutable std::mutex mutex_;
  std::condition_variable_any cv_;
  ClassMask requested_;          // a crawl asked for and not yet started; guarded by mutex_
  bool woken_ = false;           // guarded by mutex_
  std::uint64_t started_ = 0;    // passes begun; guarded by mutex_
  std::uint64_t completed_ = 0;  // passes ended; guarded by mutex_
  std::jthread thread_;
};

}  // namespace spoold
