#include "spool/close_reason.h"

#include <fmt/format.h>

#include <cstring>

namespace spool {

std::string_view toString(CloseCode code) noexcept {
  switch (code) {
    case CloseCode::kLocalClose: return "closed locally";
    case CloseCode::kLocalAbort: return "aborted locally";
    case CloseCode::kPeerClosed: return "peer closed";
    case CloseCode::kIoError: return "I/O error";
    case CloseCode::kConnectFailed: return "connect failed";
    case CloseCode::kSendQueueStuck: return "send queue stuck";
    case CloseCode::kIdleTimeout: return "idle timeout";
    case CloseCode::kTlsError: return "TLS error";
    case CloseCode::kTransportStopped: return "transport stopped";
    case CloseCode::kRejected: return "rejected";
    case CloseCode::kHandshakeTimeout: return "TLS handshake timeout";
    case CloseCode::kHandlerError: return "handler error";
  }
  return "unknown";
}

std::string CloseReason::describe() const {
  std::string line(toString(code));
  if (sys_error != 0) {
    line += fmt::format(": {} ({})", std::strerror(sys_error), sys_error);
  }
  if (!detail.empty()) {
    line += ": ";
    line += detail;
  }
  return line;
}

}  // namespace spool
