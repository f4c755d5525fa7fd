// One connection's protocol engine: bytes in, responses out.
#pragma once

#include <cstddef>
#include <string_view>

#include "binary_protocol.h"
#include "output.h"
#include "protocol.h"
#include "server_context.h"
#include "text_protocol.h"

namespace spoold {

/// The protocol state of one connection, free of I/O: process() consumes
/// complete commands from a byte view and appends their responses to an
/// Output. The protocol (text or binary) is chosen from the first byte, as
/// memcached does. The same code serves inline mode, workers mode, the unit
/// tests and the fuzzers.
///
/// Not thread-safe: one thread at a time (ownership is handed over under the
/// connection's lock, see RequestPipeline).
class Session {
 public:
  explicit Session(ServerContext& ctx)
      : text_(ctx, metadump_), binary_(ctx), protocol_(boundProtocol(ctx.settings)) {}

  struct Result {
    std::size_t consumed = 0;  ///< input bytes used up
    bool need_more = false;    ///< the rest is an incomplete command
    std::size_t want = 0;      ///< with need_more: bytes the command needs, counted from `consumed` (0: unknown)
    Action action = Action::kNone;
    bool yield = false;        ///< the budget ran out with input left (-R): let other connections run
  };

  /// Runs commands from `input` until it is used up, a command is
  /// incomplete, a command asks for an action, the output has grown past
  /// kFlushBytes (then the caller sends it and calls again with the rest),
  /// or, with a `budget`, that many commands have run and more input waits
  /// (-R; then `yield`).
  /// @param budget commands left in this turn, decremented per command.
  Result process(std::string_view input, Output& out, unsigned* budget = nullptr);

  /// The request of the last kMetadump action.
  [[nodiscard]] const MetadumpRequest& metadump() const noexcept { return metadump_; }
  /// The WatchFlag bits of the last kWatch action.
  [[nodiscard]] unsigned watchFlags() const noexcept { return text_.watchFlags(); }

  /// Output size at which process() returns so the caller can send.
  static constexpr std::size_t kFlushBytes = 256u << 10;

 private:
  enum class Protocol : std::uint8_t { kUnknown, kText, kBinary };
  /// memcached's -B: a bound protocol parses every byte, even the other
  /// protocol's (binary requests under -B ascii answer ERROR; text under
  /// -B binary is a bad magic byte, which closes). ASCII authentication (-Y)
  /// binds to text. kUnknown: detected from the first byte.
  static Protocol boundProtocol(const Settings& s) noexcept;

  MetadumpRequest metadump_;
  TextProtocol text_;
  BinaryProtocol binary_;
  Protocol protocol_ = Protocol::kUnknown;
  std::size_t swallow_ = 0;  // bytes of a refused value still to discard
};

}  // namespace spoold
