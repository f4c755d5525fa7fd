// `lru_crawler metadump`: streams item metadata from a background thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "protocol.h"
#include "spool/buffer.h"
#include "store.h"

namespace spoold {

/// Where a dump goes: the connection that asked for it.
class MetadumpSink {
 public:
  virtual ~MetadumpSink() = default;
  /// Sends `payload`, waiting while the connection's send budget is full
  /// (spool refused it) until the client has read enough. Called on the
  /// dump thread. @return false once the connection is gone or `stop` is set.
  virtual bool sendPaced(spool::Buffer&& payload, const std::atomic<bool>& stop) = 0;
  /// The dump has ended (END sent, or the connection closed). Called on the dump thread.
  virtual void metadumpDone() = 0;
};

/// The background "LRU crawler" thread. One dump runs at a time, like
/// memcached's crawler ("BUSY" otherwise). A dump visits the store one
/// shard at a time, formats that shard's lines outside the lock, and sends
/// them in pieces through MetadumpSink::sendPaced, so a slow reader holds
/// back the crawler instead of making the server buffer the key space.
///
/// Thread-safe.
class MetadumpService {
 public:
  explicit MetadumpService(Store& store);
  ~MetadumpService();
  MetadumpService(const MetadumpService&) = delete;
  MetadumpService& operator=(const MetadumpService&) = delete;

  /// Starts a dump of `request` for `sink`. @return false when one is running.
  bool start(std::shared_ptr<MetadumpSink> sink, const MetadumpRequest& request);
  /// Ends the running dump early and joins the thread. Idempotent.
  void stop();
  /// A dump is running (`stats` lru_crawler_running).
  [[nodiscard]] bool running();
  /// Dumps started since the server started (`stats` lru_crawler_starts).
  [[nodiscard]] std::uint64_t starts() const noexcept { return starts_.load(std::memory_order_relaxed); }

  /// Bytes gathered before they are handed to the connection.
  static constexpr std::size_t kPieceBytes = 64u << 10;

 private:
  struct Job {
    std::shared_ptr<MetadumpSink> sink;
    MetadumpRequest request;
  };
  void loop();
  void dump(const Job& job);
  bool sendPieces(const Job& job, std::string& lines, bool everything);
  bool wanted(const Job& job, std::uint8_t slab_class) const noexcept;
  void appendLine(const Item& item, std::string& out) const;

  Store& store_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::optional<Job> job_;
  bool running_ = false;
  std::atomic<bool> stopping_{false};
  std::atomic<std::uint64_t> starts_{0};
  std::jthread thread_;
};

}  // namespace spoold
