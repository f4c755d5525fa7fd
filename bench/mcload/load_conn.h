// One memcached connection driven by the load generator: keeps `depth`
// requests in flight and checks every response.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "histogram.h"
#include "client_channel.h"
#include "mc_protocol.h"

namespace spool::bench {

/// What a client thread counted in the measured window (errors: any time).
struct LoadTally {
  std::uint64_t gets = 0, sets = 0, hits = 0, misses = 0, errors = 0;
  LatencyHistogram latency;  ///< request written -> response read
  std::string first_error;

  void merge(const LoadTally& other);
};

/// Next request to issue, or false for none (the run is over, or the
/// prefill has covered every key).
using OpSource = std::function<bool(McOp& op)>;

/// Not thread-safe: one client thread drives it.
class LoadConn {
 public:
  LoadConn(std::unique_ptr<ClientChannel> channel, std::unique_ptr<McProtocol> protocol, const KeySpace& keys,
           unsigned depth, OpSource source);

  [[nodiscard]] int fd() const noexcept { return channel_->fd(); }
  /// Reads and checks what arrived, tops the pipeline up and writes. Counts
  /// into `tally` when `measuring`. False once the connection is unusable
  /// (a bad response, an I/O error or the server closed it).
  bool pump(bool measuring, LoadTally& tally);
  [[nodiscard]] bool wantsWrite() const noexcept { return written_ < out_.size(); }
  [[nodiscard]] bool hasBuffered() const noexcept { return channel_->hasBuffered(); }
  [[nodiscard]] bool idle() const noexcept { return in_flight_.empty() && !wantsWrite(); }

  /// Open loop: from now on a request is due every `interval_ns`, the first
  /// at `first_ns`. Each is issued once due (or, with `depth` requests
  /// already outstanding, as soon as one completes) and its latency counts
  /// from when it was due, not from when it was written: a server that
  /// stalls is charged for every request it kept waiting.
  void pace(std::uint64_t first_ns, std::uint64_t interval_ns) noexcept {
    next_due_ns_ = first_ns;
    interval_ns_ = interval_ns;
  }
  /// `depth` requests are outstanding: nothing more is issued until one completes.
  [[nodiscard]] bool full() const noexcept { return in_flight_.size() >= depth_; }
  /// When the next paced request is due (0: not paced).
  [[nodiscard]] std::uint64_t nextDue() const noexcept { return interval_ns_ ? next_due_ns_ : 0; }
  /// Issues what is due at `now` and writes. False once the connection is unusable.
  bool issueDue(std::uint64_t now) {
    refill(now);
    return flush();
  }

 private:
  bool readResponses(bool measuring, LoadTally& tally);
  void refill(std::uint64_t now);
  bool flush();

  std::unique_ptr<ClientChannel> channel_;
  std::unique_ptr<McProtocol> protocol_;
  const KeySpace& keys_;
  const unsigned depth_;
  OpSource source_;
  std::deque<McOp> in_flight_;
  // Received bytes live in in_[in_begin_, in_end_); the vector only grows,
  // so reads never pay for zero-filling (std::string::resize would).
  std::vector<char> in_;
  std::size_t in_begin_ = 0;
  std::size_t in_end_ = 0;
  std::string out_;
  std::size_t written_ = 0;
  std::uint64_t next_due_ns_ = 0;
  std::uint64_t interval_ns_ = 0;  // 0: closed loop (top up to depth at once)
};

}  // namespace spool::bench
