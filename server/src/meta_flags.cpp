// Checking and decoding meta commands' flags, as memcached's _meta_flag_preparse.
#include "meta_flags.h"

#include <array>
#include <climits>

#include "base64.h"
#include "item.h"
#include "numbers.h"

namespace spoold {
namespace {

constexpr std::string_view kBadFormat = "CLIENT_ERROR bad command line format";
constexpr std::string_view kBadToken = "CLIENT_ERROR bad token in command line format";
constexpr std::string_view kFlagsTooLong = "CLIENT_ERROR options flags too long";
constexpr std::size_t kMaxOpaque = 32;

/// Decodes one flag; sets `error` for a bad value and keeps going, as memcached does.
bool parseOneFlag(std::string_view token, MetaFlags& f, std::string& key, std::string_view& error) {
  const std::string_view arg = token.substr(1);
  switch (token[0]) {
    case 'b':
      f.key_binary = true;
      if (std::string decoded; base64Decode(key, decoded)) {
        key = std::move(decoded);
      } else {
        error = "CLIENT_ERROR error decoding key";
      }
      return true;
    case 'N': f.vivify = true; if (!parseI32(arg, f.autoviv_exptime)) error = kBadToken; return true;
    case 'T': f.new_ttl = true; if (!parseI32(arg, f.exptime)) error = kBadToken; return true;
    case 'R': f.has_recache = true; if (!parseI32(arg, f.recache_time)) error = kBadToken; return true;
    case 'F': if (!parseU32(arg, f.client_flags)) error = kBadFormat; return true;
    case 'C': f.has_cas = true; if (!parseU64(arg, f.req_cas)) error = kBadToken; return true;
    case 'J': if (!parseU64(arg, f.initial)) error = "CLIENT_ERROR invalid numeric initial value"; return true;
    case 'D': if (!parseU64(arg, f.delta)) error = "CLIENT_ERROR invalid numeric delta value"; return true;
    case 'M':
      if (token.size() != 2) {
        error = "CLIENT_ERROR incorrect length for M token";
      } else {
        f.mode = token[1];
      }
      return true;
    case 'v': f.value = true; return true;
    case 'u': f.no_update = true; return true;
    case 'q': f.no_reply = true; return true;
    case 'I': f.set_stale = true; return true;
    case 'l': case 'O': case 'P': case 'L': case 'k': case 's': case 't': case 'c': case 'f': case 'h':
      return true;
    default:
      return false;
  }
}

}  // namespace

bool opaqueTooLong(const Tokens& tokens, std::size_t first) {
  for (std::size_t i = first; i < tokens.count; ++i) {
    if (tokens[i][0] == 'O' && tokens[i].size() > kMaxOpaque) {
      return true;
    }
  }
  return false;
}

std::size_t flagsBeforeBadOpaque(const Tokens& tokens, std::size_t first) {
  std::size_t i = first;
  while (i < tokens.count && !(tokens[i][0] == 'O' && tokens[i].size() > kMaxOpaque)) {
    ++i;
  }
  return i;
}

std::string_view checkSetLine(const Tokens& tokens, std::int32_t& length) {
  if (tokens[1].size() > kMaxKeyLength || tokens.ntokens() == 3) {
    return kBadFormat;
  }
  if (tokens.ntokens() > kMaxFlagTokens) {
    return kFlagsTooLong;
  }
  if (!parseI32(tokens[2], length) || length < 0 || length > INT_MAX - 2) {
    return kBadFormat;
  }
  return {};
}

std::string_view parseMetaFlags(const Tokens& tokens, std::size_t first, MetaFlags& flags,
                                std::string& key) {
  flags = MetaFlags{};
  key.assign(tokens[1]);
  std::array<bool, 128> seen{};
  std::string_view error;
  for (std::size_t i = first; i < tokens.count; ++i) {
    const auto o = static_cast<unsigned char>(tokens[i][0]);
    if (o >= 127 || seen[o]) {
      return "CLIENT_ERROR duplicate flag";
    }
    seen[o] = true;
    if (!parseOneFlag(tokens[i], flags, key, error)) {
      return "CLIENT_ERROR invalid flag";
    }
  }
  return error;
}

}  // namespace spoold
