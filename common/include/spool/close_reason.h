// Why a connection closed.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace spool {

/// How close() ends a connection.
enum class CloseMode : std::uint8_t {
  kGraceful,  ///< flush what send() accepted, shut the write side, then close
  kAbort,     ///< drop unsent bytes and reset the connection (RST)
};

/// What ended a connection; passed exactly once to ConnectionHandler::onClose.
enum class CloseCode : std::uint8_t {
  kLocalClose,        ///< close(kGraceful) was called
  kLocalAbort,        ///< close(kAbort) was called
  kPeerClosed,        ///< the peer shut its side down (EOF)
  kIoError,           ///< a socket error (errno in CloseReason::sys_error)
  kConnectFailed,     ///< an outgoing connection could not be established
  kSendQueueStuck,    ///< the send backlog did not move for the configured time
  kIdleTimeout,       ///< nothing was received for the configured time
  kTlsError,          ///< handshake or TLS protocol failure
  kTransportStopped,  ///< Transport::stop() closed it
  kRejected,          ///< refused at accept (connection limit)
  kHandshakeTimeout,  ///< the TLS handshake did not complete in ConnectionOptions::handshake_timeout
  kHandlerError,      ///< a handler callback threw; the detail holds the exception's message
};

/// A readable name for `code`, e.g. "send queue stuck".
std::string_view toString(CloseCode code) noexcept;

struct CloseReason {
  CloseCode code = CloseCode::kLocalClose;
  int sys_error = 0;   ///< errno for kIoError / kConnectFailed, else 0
  std::string detail;  ///< free text: the caller's reason, strerror, OpenSSL's errors

  /// One line for logs: "peer closed", "I/O error: Connection reset by peer (104)", ...
  [[nodiscard]] std::string describe() const;
};

}  // namespace spool
