// `watch`: memcached's logger, streaming event lines to watching clients.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "spool/connection.h"

namespace spoold {

/// What a watcher asked for (memcached's LOG_* flags), one bit each.
enum WatchFlag : unsigned {
  kWatchFetchers = 1u << 0,    ///< item_get: every key lookup
  kWatchMutations = 1u << 1,   ///< item_store: every store attempt
  kWatchEvictions = 1u << 2,   ///< eviction
  kWatchConnEvents = 1u << 3,  ///< conn_new, conn_close
};

/// memcached's `watch` arguments: fetchers when none. @return false for an unknown one.
bool parseWatchFlags(const std::vector<std::string_view>& args, unsigned& flags);

/// The watchers and their bounded buffers, with one thread that sends.
///
/// A producer (any thread running a command, often under a store shard's
/// lock) checks wants() with one relaxed load, formats its line and calls
/// publish(), which appends it to each interested watcher's buffer under a
/// short lock and never waits for a watcher: once a buffer holds
/// `buffer_limit` bytes (-o watcher_logbuf_size) further lines are dropped
/// and counted, and the watcher is told `skipped=<n>` before the next line
/// it gets, as memcached does. The thread hands buffers to the connections
/// (spool's cross-thread send); a refused send stays buffered and counts
/// against the limit, so a watcher that never reads costs at most the
/// limit plus spool's send budget.
///
/// Thread-safe.
class WatchLog {
 public:
  explicit WatchLog(std::size_t buffer_limit);
  ~WatchLog();
  WatchLog(const WatchLog&) = delete;
  WatchLog& operator=(const WatchLog&) = delete;

  /// Whether a watcher wants `flag` lines.
  [[nodiscard]] bool wants(unsigned flag) const noexcept {
    return (flags_.load(std::memory_order_relaxed) & flag) != 0;
  }
  /// Adds the line "ts=<now> gid=<n> <body>\n" for the watchers of `flag`.
  void publish(unsigned flag, std::string_view body);
  /// `conn` watches `flags` from now on.
  void add(spool::ConnectionPtr conn, unsigned flags);
  /// Forgets the watcher on connection `id` (it closed).
  void remove(std::uint64_t id);
  /// Drops every watcher and joins the thread (server stop). Idempotent.
  void stop();

  /// The connection running commands on this thread (memcached's `cfd`).
  static std::uint64_t currentClient() noexcept;
  /// Sets currentClient() for a scope (a runner of that connection's commands).
  class ClientScope {
   public:
    explicit ClientScope(std::uint64_t id) noexcept;
    ~ClientScope();
    ClientScope(const ClientScope&) = delete;
    ClientScope& operator=(const ClientScope&) = delete;

   private:
    std::uint64_t previous_;
  };

  /// memcached's stats: log_watcher_skipped, log_watcher_sent, log_watchers.
  struct Stats {
    std::uint64_t skipped = 0;
    std::uint64_t sent = 0;
    std::uint64_t watchers = 0;
    std::size_t buffered = 0;  ///< bytes held for the watchers now (not a memcached stat)
  };
  [[nodiscard]] Stats stats() const;

 private:
  struct Watcher {
    spool::ConnectionPtr conn;
    unsigned flags = 0;
    std::string pending;  // lines not yet handed to the connection
    spool::Buffer held;   // a send spool refused, retried first
    std::uint64_t skipped = 0;
    [[nodiscard]] std::size_t buffered() const noexcept { return pending.size() + held.size(); }
  };
  void loop(const std::stop_token& stop);
  /// Sends what `w` has (the lock held). @return false once its connection closed.
  bool flushLocked(Watcher& w);
  void updateFlagsLocked() noexcept;

  const std::size_t buffer_limit_;
  std::atomic<unsigned> flags_{0};
  std::atomic<std::uint64_t> gid_{0};
  mutable std::mutex mutex_;
  std::condition_variable_any cv_;
  std::vector<Watcher> watchers_;  // guarded by mutex_
  bool dirty_ = false;             // lines to send; guarded by mutex_
  Stats stats_;                    // guarded by mutex_
  bool stopped_ = false;  // stop() ran: add() registers nothing more
  std::jthread thread_;
};

/// memcached's key encoding in log lines (uriencode): unreserved URI
/// characters stay, the rest become %XX.
std::string uriEncode(std::string_view key);

}  // namespace spoold
