// Everything the sessions of one server share.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "auth_file.h"
#include "clock.h"
#include "prefix_stats.h"
#include "server_stats.h"
#include "settings.h"
#include "spool/stats.h"
#include "store.h"
#include "store_maintainer.h"
#include "watch_log.h"

namespace spoold {

/// Counts a CAS attempt's outcome (cas_hits, cas_badval, cas_misses).
inline void countCas(ServerStats& stats, StoreResult result) noexcept {
  stats.add(result == StoreResult::kStored   ? Counter::kCasHits
            : result == StoreResult::kExists ? Counter::kCasBadval
                                             : Counter::kCasMisses);
}

/// Connection counts and the list `stats conns` prints. Thread-safe.
class ConnectionRegistry {
 public:
  struct Entry {
    std::string peer;
    RelTime opened = 0;
  };
  void add(std::uint64_t id, std::string peer, RelTime now);
  void remove(std::uint64_t id);
  [[nodiscard]] std::uint64_t current() const noexcept { return current_.load(std::memory_order_relaxed); }
  [[nodiscard]] std::uint64_t total() const noexcept { return total_.load(std::memory_order_relaxed); }
  [[nodiscard]] std::uint64_t structures() const noexcept { return peak_.load(std::memory_order_relaxed); }
  [[nodiscard]] std::map<std::uint64_t, Entry> snapshot() const;

 private:
  mutable std::mutex mutex_;
  std::map<std::uint64_t, Entry> entries_;
  std::atomic<std::uint64_t> current_{0};
  std::atomic<std::uint64_t> total_{0};
  std::atomic<std::uint64_t> peak_{0};
};

/// The shared state of a server: settings, clock, store and counters.
/// Thread-safe: its members are.
class ServerContext {
 public:
  explicit ServerContext(const Settings& s)
      : settings(s),
        store(StoreLimits{s.memory_limit, s.item_size_max, s.evict, s.cas_enabled, s.growth_factor,
                          s.chunk_size},
              clock),
        verbosity(s.verbose) {
    store.setWatchLog(&watch);
  }

  const Settings settings;
  Clock clock;
  /// `watch`: the watchers and their buffers (-o watcher_logbuf_size).
  WatchLog watch{settings.tuning.watcher_logbuf_size};
  Store store;
  /// Reclaims dead items in the background; Server::start() starts it.
  StoreMaintainer maintainer{
      store, StoreMaintainer::Options{settings.tuning.lru_maintainer_thread, settings.lru_crawler}};
  ServerStats stats;
  ConnectionRegistry connections;
  std::atomic<int> verbosity;
  /// The most input bytes one connection has had queued for its runner
  /// (`spoold_queued_input_peak`): shows that the loops pause reading at
  /// Settings::queued_input_limit.
  std::atomic<std::size_t> queued_input_peak{0};
  /// Times a connection stopped being read because its queued input reached
  /// Settings::queued_input_limit (`spoold_queued_input_pauses`).
  std::atomic<std::uint64_t> queued_input_pauses{0};
  /// The transport's per-loop counters; set by the server before it accepts.
  std::function<std::vector<spool::LoopStats>()> transport_stats;
  /// The LRU crawler (metadump) thread: running now, dumps started.
  struct CrawlerStats {
    bool running = false;
    std::uint64_t starts = 0;
  };
  /// Set by the server before it accepts; null: no crawler yet.
  std::function<CrawlerStats()> crawler_stats;
  /// refresh_certs: reloads the certificate and key into every TLS
  /// listener; "" when done, else memcached's error line (with "\r\n").
  /// Set by the server before it accepts.
  std::function<std::string()> refresh_certs;
  /// When the certificate was last loaded (time_since_server_cert_refresh).
  std::atomic<RelTime> cert_refreshed_at{0};
  /// `stats detail`: per-prefix counts while `detail_enabled` (-D or
  /// `stats detail on`), as memcached.
  PrefixStats prefix_stats{settings.prefix_delimiter};
  std::atomic<bool> detail_enabled{settings.detail_enabled};
  /// -Y: the users of ASCII authentication; loaded by Server::start() before
  /// it accepts, read-only afterwards.
  AuthFile auth;
  /// The `shutdown` command (-A) asks the process to stop through this; set
  /// before start() (main() sends itself SIGTERM). Null: nothing to stop.
  std::function<void()> request_shutdown;
};

}  // namespace spoold
