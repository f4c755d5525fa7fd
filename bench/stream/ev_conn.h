// A connection of the stream server's plain-libevent modes (raw-loop, post,
// locked): its socket and one struct event on its loop's base, as a careful
// libevent server keeps them when it does its own reads and writes. The event always waits
// for EV_READ (the clients send nothing, so that is their EOF); EV_WRITE is
// added only while there is output the kernel refused, so a connection that
// keeps up costs no epoll_ctl per write.
#pragma once

#include <event2/event.h>
#include <event2/event_struct.h>

#include <cstddef>
#include <cstdint>

#include "output_chain.h"
#include "slot_registry.h"

namespace spool::bench {

/// What one loop of these modes did. Loop thread only; read after it stopped.
struct EvLoopCounters {
  std::uint64_t frames = 0;          ///< generated on the loop (raw-loop)
  std::uint64_t bytes_out = 0;       ///< taken by the kernel (or by SSL_write)
  std::uint64_t write_calls = 0;     ///< sendmsg / send / SSL_write calls
  std::uint64_t write_refusals = 0;  ///< calls the kernel refused in part or whole
  std::uint64_t tls_handshakes = 0;
  std::uint64_t tls_failures = 0;

  EvLoopCounters& operator+=(const EvLoopCounters& o) noexcept {
    frames += o.frames;
    bytes_out += o.bytes_out;
    write_calls += o.write_calls;
    write_refusals += o.write_refusals;
    tls_handshakes += o.tls_handshakes;
    tls_failures += o.tls_failures;
    return *this;
  }
};

/// Loop thread only, except where a subclass says otherwise. Kept alive
/// (its event included) until the mode stops, since producers may still
/// hold it; release() frees the socket and the event while the base lives.
class EvConn : public StreamSlot {
 public:
  /// Takes `fd` (a connected, non-blocking socket).
  EvConn(event_base* base, int fd, SlotRegistry& registry, EvLoopCounters& counters) noexcept
      : counters_(counters), base_(base), fd_(fd), registry_(registry) {}
  ~EvConn() override;
  EvConn(const EvConn&) = delete;
  EvConn& operator=(const EvConn&) = delete;

  /// The loop-generating modes have no producers; the handoff modes override it.
  SendOutcome send() noexcept override { return SendOutcome::kClosed; }

  /// Starts waiting for the socket. Before the registry hands it to producers.
  void open() noexcept { watch(false); }
  /// Once registered: the loop-generating modes start writing (or the TLS
  /// handshake) here.
  virtual void begin() noexcept {}
  /// After the loop stopped, before its base is freed: closes the socket and
  /// forgets the event. Idempotent.
  void release() noexcept;

  enum class WriteResult : std::uint8_t { kDone, kRefused, kFailed };

 protected:
  /// Readable: discards what the peer sent, closes on its EOF or an error.
  virtual void onReadable() noexcept;
  virtual void onWritable() noexcept = 0;
  /// Called by close() before the socket goes: drop the output.
  virtual void beforeClose() noexcept {}

  /// EV_READ always, and EV_WRITE when `write`. Changing it re-assigns the
  /// event; with the base's changelist a delete and an add in one turn
  /// reach epoll as one EPOLL_CTL_MOD.
  void watch(bool write) noexcept;
  [[nodiscard]] bool watchingWrite() const noexcept { return write_interest_; }
  /// event_active on this connection's event: thread-safe on a base with
  /// locks (the `locked` mode's producers), once open() ran.
  void activate(short what) noexcept { event_active(&ev_, what, 0); }
  /// sendmsg of `chain` (64 iovecs a call, as spool) until it is empty or
  /// the kernel refuses; closes the connection on an error. `written`: bytes taken.
  WriteResult writeChain(OutputChain& chain, std::size_t& written) noexcept;
  /// Stops waiting, closes the socket and tells the registry. Idempotent.
  void close() noexcept;

  [[nodiscard]] bool isOpen() const noexcept { return fd_ >= 0; }
  [[nodiscard]] int fd() const noexcept { return fd_; }

  EvLoopCounters& counters_;

 private:
  static void onEventCb(evutil_socket_t fd, short what, void* ctx);

  event_base* const base_;
  int fd_;
  SlotRegistry& registry_;
  event ev_{};
  bool added_ = false;
  bool write_interest_ = false;
};

}  // namespace spool::bench
