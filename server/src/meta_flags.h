// The flags of memcached's meta commands: checked and decoded before a command runs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "text_parser.h"

namespace spoold {

/// memcached's ntokens limit for meta commands (MFLAG_MAX_OPT_LENGTH).
inline constexpr std::size_t kMaxFlagTokens = 20;

/// The flags of one meta command, checked and decoded (memcached's
/// _meta_flag_preparse). Response flags are written later in request order.
struct MetaFlags {
  bool no_update = false;   // u
  bool vivify = false;      // N
  bool value = false;       // v
  bool set_stale = false;   // I
  bool no_reply = false;    // q
  bool has_cas = false;     // C
  bool new_ttl = false;     // T
  bool key_binary = false;  // b
  bool has_recache = false; // R
  char mode = 0;            // M
  std::int32_t exptime = 0;
  std::int32_t autoviv_exptime = 0;
  std::int32_t recache_time = 0;
  std::uint32_t client_flags = 0;
  std::uint64_t req_cas = 0;
  std::uint64_t delta = 1;
  std::uint64_t initial = 0;
};

/// Checks the flag tokens of a meta command starting at token `first`.
/// On success decodes a base64 key (flag b) into `key`. @return the error
/// line memcached would send, or an empty view.
std::string_view parseMetaFlags(const Tokens& tokens, std::size_t first, MetaFlags& flags,
                                std::string& key);

/// Whether a flag token from `first` on is an O over 32 bytes.
bool opaqueTooLong(const Tokens& tokens, std::size_t first);
/// memcached walks mg's and ma's flags after running the command and stops
/// at an O token over 32 bytes: the index of that token, or tokens.count.
std::size_t flagsBeforeBadOpaque(const Tokens& tokens, std::size_t first);
/// ms's checks before its value length is known, in memcached's order;
/// sets `length`. An error here skips nothing: the next line is the next
/// command. @return memcached's error line, or an empty view.
std::string_view checkSetLine(const Tokens& tokens, std::int32_t& length);

}  // namespace spoold
