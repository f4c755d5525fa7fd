// A connection handle that any thread may send on.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "spool/buffer.h"
#include "spool/close_reason.h"
#include "spool/tls.h"

namespace spool {

class Connection;
/// Producers hold connections by counted reference, never by raw pointer.
using ConnectionPtr = std::shared_ptr<Connection>;

/// Outcome of Connection::send().
enum class SendResult : std::uint8_t {
  kOk,           ///< accepted: it will be written, or released if the connection closes first
  kBackpressure, ///< refused: the backlog is at the high watermark; the payload is left
                 ///< in the caller's Buffer untouched; onWritable() follows once the
                 ///< backlog falls to the low watermark
  kClosed,       ///< refused: the connection is closing or closed; the payload was released
};

std::string_view toString(SendResult result) noexcept;

/// Per-connection counters, read with relaxed loads (a snapshot, not atomic as a whole).
struct ConnectionCounters {
  std::uint64_t bytes_received = 0;
  std::uint64_t bytes_sent = 0;         ///< bytes the kernel (or TLS) has taken
  std::uint64_t messages_sent = 0;      ///< payloads handed to the socket's output buffer
  std::uint64_t refusals = 0;           ///< sends that returned kBackpressure
  std::size_t backlog = 0;              ///< accepted bytes not yet taken by the kernel
};

/// A network connection owned by one loop thread for its whole life.
///
/// Loop thread only unless marked "Thread-safe".
///
/// Lifetime: the object lives while anyone holds a ConnectionPtr to it or a
/// payload for it is queued; the socket lives until the connection closes.
/// After close every send returns kClosed.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  virtual ~Connection() = default;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  /// Queues `payload` for writing. Thread-safe: may be called from any thread.
  ///
  /// Off the loop thread it costs one atomic add on the send budget, one
  /// atomic exchange on the loop's inbox and, only when the inbox was empty
  /// and the loop idle, one write to the loop's doorbell (an eventfd). It never takes a lock and never
  /// calls into the event library.
  ///
  /// Ordering: payloads from one thread are written in the order sent; a send
  /// that happens-before another (through any synchronisation) is written
  /// before it.
  ///
  /// @param payload consumed on kOk and kClosed; left intact on kBackpressure.
  [[nodiscard]] virtual SendResult send(Buffer&& payload) = 0;
  /// Copies `bytes` into a new Buffer and sends it. Thread-safe.
  [[nodiscard]] SendResult send(std::string_view bytes);

  /// Closes the connection. Thread-safe: may be called from any thread, any
  /// number of times; the first call decides the mode and the reason. It is
  /// ordered like a send: payloads sent before it (by the calling thread, or
  /// happening-before it) are flushed by a graceful close.
  virtual void close(CloseMode mode = CloseMode::kGraceful, std::string_view reason = {}) = 0;

  /// Runs `fn` on this connection's loop thread, where loop-only methods
  /// (pauseReading(), resumeReading(), ...) may be called. Thread-safe:
  /// ordered like a send (after every send and task the calling thread issued
  /// before). If the transport stops first, `fn` is destroyed without running.
  /// Allocates (the task, and the std::function's capture when it does not
  /// fit inline): for control, not for per-message work.
  virtual void runInLoop(std::function<void()> fn) = 0;

  /// True until close() is called or the connection fails. Thread-safe.
  [[nodiscard]] virtual bool isOpen() const noexcept = 0;
  /// Unique within the process. Thread-safe.
  [[nodiscard]] virtual std::uint64_t id() const noexcept = 0;
  /// "127.0.0.1:5000" or "[::1]:5000". Thread-safe.
  [[nodiscard]] virtual const std::string& peerAddress() const noexcept = 0;
  /// Thread-safe.
  [[nodiscard]] virtual ConnectionCounters counters() const noexcept = 0;
  /// Index of the loop that owns this connection. Thread-safe.
  [[nodiscard]] virtual unsigned loopIndex() const noexcept = 0;
  /// True on the thread of the loop that owns this connection. Thread-safe.
  [[nodiscard]] virtual bool inLoopThread() const noexcept = 0;

  /// The TLS session (protocol, cipher, ALPN, peer certificate) once the
  /// handshake is done; nullopt on plain TCP or before onOpen(). Thread-safe.
  [[nodiscard]] virtual std::optional<TlsPeerInfo> tlsPeer() const = 0;

  /// Stops delivering onData() (the kernel's buffer then pushes back on the peer).
  virtual void pauseReading() = 0;
  virtual void resumeReading() = 0;

  /// A counted reference to this connection.
  [[nodiscard]] ConnectionPtr ptr() { return shared_from_this(); }

 protected:
  Connection() = default;
};

}  // namespace spool
