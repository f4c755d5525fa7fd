// A connection on a libevent loop: one event for its socket, one timer.
#pragma once

#include <event2/event_struct.h>

#include <memory>
#include <string>

#include "event_loop.h"
#include "stream_connection.h"
#include "tls_context.h"

namespace spool::libevent {

using core::TlsContext;

/// What libevent does for a connection: wait. The bytes, TLS and the close
/// state machine are core::StreamConnection's; this class watches the
/// socket with one persistent event embedded in the object (no allocation of
/// its own), re-armed only when the interest changes, and keeps a timer for
/// the watchdog and the close deadlines, allocated on first use.
///
/// Loop thread only unless marked "Thread-safe".
class LibeventConnection final : public core::StreamConnection {
 public:
  using Ptr = std::shared_ptr<LibeventConnection>;

  /// Thread-safe. The object is not open until openAccepted()/connectTo().
  /// `tls`: the listener's or the connect call's context; null for plain TCP.
  static Ptr create(std::shared_ptr<EventLoop> loop, HandlerPtr handler,
                    const ConnectionOptions& options, std::string peer,
                    std::shared_ptr<const TlsContext> tls = nullptr);
  ~LibeventConnection() override;

 private:
  LibeventConnection(std::shared_ptr<EventLoop> loop, HandlerPtr handler,
                     const ConnectionOptions& options, std::string peer,
                     std::shared_ptr<const TlsContext> tls);

  static void onSocketCb(evutil_socket_t fd, short what, void* ctx);
  static void onTimerCb(evutil_socket_t fd, short what, void* ctx);

  // core::StreamConnection
  bool watch(unsigned interest) noexcept override;
  bool armTimer(std::chrono::milliseconds after) noexcept override;
  void disarmTimer() noexcept override;
  void releaseEvents() noexcept override;
  // core::ConnectionBase
  void producerMutant() noexcept override;

  EventLoop* const loop_;  // kept alive by ConnectionBase
  event io_{};             // the socket's event, while io_added_
  bool io_added_ = false;
  EventPtr timer_;
};

}  // namespace spool::libevent
