// The callbacks a connection delivers on its loop thread.
#pragma once

#include <functional>
#include <memory>

#include "spool/close_reason.h"
#include "spool/connection.h"
#include "spool/input_buffer.h"

namespace spool {

/// One handler object per connection. Every callback runs on the
/// connection's loop thread; a handler needs no locking of its own unless it
/// shares state with other threads. The handler is destroyed on the loop
/// thread right after onClose().
///
/// A callback that throws does not unwind through the event library: the
/// transport catches the exception, logs it, and aborts that connection with
/// CloseCode::kHandlerError (the message in CloseReason::detail); the loop
/// and every other connection go on. An exception from onClose() is logged
/// and dropped.
class ConnectionHandler {
 public:
  virtual ~ConnectionHandler() = default;

  /// The connection is established (accepted, or an outgoing connect
  /// finished), and with TLS, the handshake completed.
  virtual void onOpen(Connection& /*conn*/) {}
  /// Bytes arrived. Consume what you can; leave a partial frame in `input`
  /// and call input.wantBytes(frame size) to be called again only once the
  /// whole frame is there.
  virtual void onData(Connection& conn, InputBuffer& input) = 0;
  /// A send was refused with kBackpressure and the backlog has since fallen
  /// to the low watermark: producers may resume. Once per refusal episode.
  virtual void onWritable(Connection& /*conn*/) {}
  /// The peer shut its sending side down (EOF); no more onData() follows.
  /// Return false (the default) to have the transport close gracefully with
  /// kPeerClosed, flushing what send() accepted; return true to keep sending
  /// (for example, responses still being produced) and call close() when done.
  virtual bool onPeerShutdown(Connection& /*conn*/) { return false; }
  /// Exactly once, last. The socket is closed and the output buffer's
  /// payloads are released; payloads still in flight to the loop are released
  /// as they arrive.
  virtual void onClose(Connection& /*conn*/, const CloseReason& /*reason*/) {}
};

using HandlerPtr = std::unique_ptr<ConnectionHandler>;
/// Makes the handler of each accepted connection; runs on the accepting loop thread.
using HandlerFactory = std::function<HandlerPtr()>;

}  // namespace spool
