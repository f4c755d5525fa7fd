#include "spool/connection.h"

namespace spool {

std::string_view toString(SendResult result) noexcept {
  switch (result) {
    case SendResult::kOk: return "ok";
    case SendResult::kBackpressure: return "backpressure";
    case SendResult::kClosed: return "closed";
  }
  return "unknown";
}

SendResult Connection::send(std::string_view bytes) { return send(Buffer::copyOf(bytes)); }

}  // namespace spool
