// Requests in memcached's text and meta protocols, each appended together
// with the exact reply it must get, given what the client stored.
#pragma once

#include <cstdint>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <string_view>

#include "reply_checker.h"

namespace spool::bench {

enum class Dialect : std::uint8_t { kText, kMeta };

/// What a key holds, as the client that owns its namespace last stored it.
struct Stored {
  std::uint32_t flags = 0;
  ValuePtr value;
};
using Slot = std::optional<Stored>;

/// Requests and their expected replies, built together. Not thread-safe.
struct Batch {
  std::string out;
  ReplyChecker* checker;
  std::uint64_t requests = 0;
};

/// set/ms; `quiet` adds noreply/q, so no reply is expected.
void addSet(Batch& batch, Dialect dialect, std::string_view key, const Stored& stored,
            bool quiet = false);
/// get/mg of one key: its value, or a miss.
void addGet(Batch& batch, Dialect dialect, std::string_view key, const Slot& slot);
/// get k1 k2 ... (text only): the hits in request order, then END.
void addMultiGet(Batch& batch, std::span<const std::string> keys,
                 std::span<const Slot* const> slots);
/// delete/md: DELETED/HD when the key is held, NOT_FOUND/NF otherwise.
void addDelete(Batch& batch, Dialect dialect, std::string_view key, bool held);

/// `size` random bytes (every byte value, CR and LF included: the protocol
/// is length-delimited, and a server that scans values for line ends must
/// not pass the soak).
ValuePtr randomValue(std::mt19937_64& rng, std::size_t size);

}  // namespace spool::bench
