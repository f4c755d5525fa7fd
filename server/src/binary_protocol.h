// memcached's binary protocol: framing and commands.
#pragma once

#include <cstddef>
#include <string_view>

#include "binary_codec.h"
#include "output.h"
#include "protocol.h"
#include "server_context.h"

namespace spoold {

/// Runs binary-protocol requests over a byte view. Not thread-safe: one per
/// connection, used by one thread at a time.
class BinaryProtocol {
 public:
  explicit BinaryProtocol(ServerContext& ctx) : ctx_(ctx) {}

  /// Parses and runs the first request of `input`.
  Step step(std::string_view input, Output& out);

  /// A body longer than this is not a request but garbage: the connection is
  /// closed instead of swallowing gigabytes (memcached would try to read it).
  [[nodiscard]] std::size_t maxBody() const noexcept {
    return ctx_.settings.item_size_max + (64u << 10);
  }

 private:
  struct Request {
    binary::Header header;
    std::uint8_t command = 0;  // the opcode with quiet variants folded in
    bool quiet = false;
    std::string_view extras;
    std::string_view key;
    std::string_view value;
  };

  /// Checks the lengths memcached requires per opcode.
  [[nodiscard]] bool wellFormed(const Request& r) const noexcept;
  /// For a too-large update: the response and how many value bytes to skip.
  [[nodiscard]] bool refuseLargeValue(const Request& r, Output& out, Step& step);
  void execute(const Request& r, Output& out, Action& action);
  /// The 32-bit expiration field at `field`, read as memcached does: unsigned,
  /// so 0x80000000 and beyond are dates after 2038, not times in the past.
  [[nodiscard]] RelTime expiration(const char* field) const noexcept {
    return ctx_.clock.toRelative(std::int64_t{binary::readU32(field)});
  }
  void get(const Request& r, Output& out);
  void update(const Request& r, Output& out);
  void remove(const Request& r, Output& out);
  void arithmetic(const Request& r, Output& out);
  void flush(const Request& r, Output& out);
  void stat(const Request& r, Output& out);

  void respond(const Request& r, std::uint16_t status, std::string_view extras,
               std::string_view key, std::string_view value, std::uint64_t cas, Output& out);
  void success(const Request& r, Output& out, std::uint64_t cas = 0, std::string_view value = {});
  void error(const Request& r, std::uint16_t status, Output& out);

  ServerContext& ctx_;
};

}  // namespace spoold
