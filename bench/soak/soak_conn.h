// One connection of a soak client, plain TCP or TLS, on which every wait is
// bounded by a deadline: a server that stops answering makes the soak fail
// with a "stall", never hang.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "client_channel.h"
#include "reply_checker.h"

namespace spool::bench {

/// Where the clients connect. The TLS context is shared by every client
/// thread (SSL_new on one SSL_CTX is thread-safe).
struct SoakTarget {
  std::string host = "127.0.0.1";
  unsigned port = 0;
  const TlsClient* tls = nullptr;  ///< null: plain TCP
};

/// How long one exchange may wait for the server before the soak calls it
/// a stall: far beyond any reply time on loopback, even under ASan on a
/// loaded machine, and short enough that the soak always ends.
inline constexpr std::uint64_t kStallNs = 15'000'000'000;

/// read()/write() results beyond the channel's.
inline constexpr long kTimedOut = -3;

enum class Opened : std::uint8_t {
  kOk,
  kRefused,  ///< turned away at the connection limit (expected while slots are full)
  kError,    ///< anything else: the server is unreachable or answered nonsense
};

enum class Exchanged : std::uint8_t { kDone, kMismatch, kClosed, kError, kStalled };

/// How an open goes: `tls` false connects plain TCP even to a TLS port (no
/// handshake); `probe` round-trips `version` first, so the caller knows the
/// server admitted the connection before it injects anything.
struct OpenMode {
  bool tls = true;
  bool probe = true;
};

/// Reads paced for slow readers: at most `chunk` bytes per read and
/// `pause_us` between reads.
struct ReadPace {
  std::size_t chunk = 256 << 10;
  unsigned pause_us = 0;
};

/// Not thread-safe: one client thread drives it.
class SoakConn {
 public:
  static Opened open(const SoakTarget& target, std::uint64_t deadline_ns,
                     std::unique_ptr<SoakConn>& out, std::string& why, OpenMode mode = {});

  [[nodiscard]] int fd() const noexcept { return channel_->fd(); }
  [[nodiscard]] const std::string& error() const noexcept { return error_; }

  /// False when the connection failed or the deadline passed.
  bool sendAll(std::string_view data, std::uint64_t deadline_ns);
  /// > 0: bytes read; 0: the server closed; kFailed; kTimedOut.
  long readSome(char* data, std::size_t size, std::uint64_t deadline_ns);
  /// Writes `out` while reading replies into `checker`, until `out` is
  /// written and at most `until_pending` replies are still unread.
  Exchanged exchange(std::string_view out, ReplyChecker& checker, std::size_t until_pending,
                     std::uint64_t deadline_ns, ReadPace pace = {});
  /// Reads and discards until the server closes (true) or the deadline.
  bool drainUntilClosed(std::uint64_t deadline_ns);
  /// Ends the write direction (TCP FIN; no TLS close_notify).
  void shutdownWrite() noexcept;
  /// Closes with a reset: SO_LINGER 0 makes close() drop unsent bytes and
  /// send RST, as a killed client's kernel would.
  static void abortWithReset(std::unique_ptr<SoakConn> conn) noexcept;

 private:
  /// What one pass of exchange() did.
  struct Step {
    bool moved = false;  ///< bytes were written or read
    short events = 0;    ///< what to poll for when nothing moved
  };

  explicit SoakConn(std::unique_ptr<ClientChannel> channel);
  std::optional<Exchanged> writeStep(std::string_view out, std::size_t& written, Step& step);
  std::optional<Exchanged> readStep(ReplyChecker& checker, ReadPace pace, Step& step);
  Opened handshake(std::uint64_t deadline_ns, std::string& why);
  Opened probe(std::uint64_t deadline_ns, std::string& why);
  /// Waits until the channel's pending wait (or `events`) is ready.
  bool await(short events, std::uint64_t deadline_ns);
  [[nodiscard]] short channelEvents() const noexcept;

  std::unique_ptr<ClientChannel> channel_;
  std::vector<char> buffer_;
  std::string error_;
};

}  // namespace spool::bench
