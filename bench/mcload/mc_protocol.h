// memcached request encoders and response checkers for the load generator:
// text, meta and binary protocols. Pure functions over bytes, no I/O.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace spool::bench {

/// The keys and values the load uses. Key i is "k" + i zero-padded to
/// key_size bytes; its value is value_size letters starting at letter i mod
/// 26, so every response can be checked without remembering what was stored.
class KeySpace {
 public:
  KeySpace(std::uint64_t key_count, unsigned key_size, std::size_t value_size);
  [[nodiscard]] std::uint64_t count() const noexcept { return key_count_; }
  [[nodiscard]] std::size_t valueSize() const noexcept { return value_size_; }
  /// Writes key i into `out` (replacing its contents).
  void key(std::uint64_t i, std::string& out) const;
  [[nodiscard]] std::string_view value(std::uint64_t i) const noexcept {
    return {letters_.data() + i % 26, value_size_};
  }
  /// The smallest key size that can hold `key_count` distinct keys.
  static unsigned minKeySize(std::uint64_t key_count) noexcept;

 private:
  std::uint64_t key_count_;
  unsigned key_size_;
  std::size_t value_size_;
  std::string letters_;
};

enum class OpKind : std::uint8_t { kGet, kSet };

/// One request in flight.
struct McOp {
  OpKind kind;
  std::uint64_t key;
  std::uint32_t opaque;   ///< binary protocol: echoed by the server
  std::uint64_t sent_ns;
};

enum class Reply : std::uint8_t { kIncomplete, kHit, kMiss, kStored, kBad };

struct ParsedReply {
  Reply reply = Reply::kIncomplete;
  std::size_t consumed = 0;  ///< bytes of this response (when complete)
  std::string error;         ///< why it is kBad
};

class McProtocol {
 public:
  virtual ~McProtocol() = default;
  /// Appends the request for `op` to `out`.
  virtual void encode(const McOp& op, const KeySpace& keys, std::string& out) const = 0;
  /// Parses and checks the response to `op` at the start of `in`: the key,
  /// the length and every byte of a hit's value.
  [[nodiscard]] virtual ParsedReply parse(std::string_view in, const McOp& op, const KeySpace& keys) const = 0;
};

/// "text", "meta" or "binary"; null for anything else.
std::unique_ptr<McProtocol> makeMcProtocol(const std::string& name);

}  // namespace spool::bench
