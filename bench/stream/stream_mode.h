// A way of serving the stream benchmark: spool (producers through the
// inbox), loop (generated on the loop thread), raw-loop, post, locked, and
// (built with folly) folly-post, folly-wait.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "slot_registry.h"

namespace spool::bench {

class StreamMode {
 public:
  virtual ~StreamMode() = default;
  /// Listens on 127.0.0.1:config.port (0: any free port) and returns the port.
  virtual std::uint16_t start() = 0;
  /// Closes every connection and stops the loops. Producers must be stopped first.
  virtual void stop() = 0;
  /// Messages generated on the loop threads (`loop` mode); producers count their own.
  [[nodiscard]] virtual std::uint64_t loopMessages() const { return 0; }
  /// Extra counters as a JSON object, or empty.
  [[nodiscard]] virtual std::string statsJson() const { return {}; }
};

/// spool's public API: producers send through Connection::send (mode
/// "spool"), or the loop generates in onOpen/onWritable (mode "loop").
std::unique_ptr<StreamMode> makeSpoolStreamMode(const StreamConfig& config, SlotRegistry& registry);
/// libevent directly, one event per connection and an output buffer of its
/// own: "raw-loop" (generated on the loop thread, plain TCP or TLS: the upper
/// bound), "post" (mutex + event_active) or "locked" (producers copy into the
/// connection's output under its lock, the loop writes it under the same lock).
std::unique_ptr<StreamMode> makeLibeventStreamMode(const StreamConfig& config, SlotRegistry& registry);
/// folly's own way (folly_stream_mode.cpp, built only with folly): each
/// message posted with EventBase::runInEventBaseThread ("folly-post") or
/// runInEventBaseThreadAndWait ("folly-wait"), written with AsyncSocket::writeChain.
std::unique_ptr<StreamMode> makeFollyStreamMode(const StreamConfig& config, SlotRegistry& registry);

}  // namespace spool::bench
