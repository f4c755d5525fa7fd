#include "admin_commands.h"

#include <cerrno>
#include <cstdlib>
#include <string>

#include "numbers.h"

namespace spoold {
namespace {

constexpr std::string_view kError = "ERROR";

/// memcached's safe_strtod: the whole token is a number in range.
bool parseDouble(std::string_view token, double& out) {
  const std::string text(token);
  char* end = nullptr;
  errno = 0;
  out = std::strtod(text.c_str(), &end);
  return errno != ERANGE && end != text.c_str() && *end == '\0';
}

std::string_view memlimit(ServerContext& ctx, const Tokens& tokens) {
  std::uint32_t megabytes = 0;
  if (!parseU32(tokens[1], megabytes)) {
    return kError;
  }
  if (megabytes < 8) {
    return "MEMLIMIT_TOO_SMALL cannot set maxbytes to less than 8m";
  }
  if (megabytes > 1000000000) {
    return "MEMLIMIT_ADJUST_FAILED input value is megabytes not bytes";
  }
  ctx.store.setMemoryLimit(static_cast<std::size_t>(megabytes) << 20);
  return "OK";
}

std::string_view slabsAutomove(const Tokens& tokens) {
  if (tokens[2] == "ratio") {
    double ratio = 0;
    return tokens.ntokens() < 5 || !parseDouble(tokens[3], ratio) ? kError : "OK";
  }
  std::uint32_t level = 0;
  if (!parseU32(tokens[2], level)) {
    return "CLIENT_ERROR bad command line format";
  }
  return level <= 2 ? "OK" : kError;
}

/// `lru tune`: memcached checks and keeps the segment sizes even with its
/// LRU maintainer off; spoold has no segments to size, so it only checks.
std::string_view lruTune(const Tokens& tokens) {
  std::uint32_t pct_hot = 0;
  std::uint32_t pct_warm = 0;
  double hot_factor = 0;
  double warm_factor = 0;
  if (!parseU32(tokens[2], pct_hot) || !parseU32(tokens[3], pct_warm) ||
      !parseDouble(tokens[4], hot_factor) || !parseDouble(tokens[5], warm_factor)) {
    return kError;
  }
  if (static_cast<std::uint64_t>(pct_hot) + pct_warm > 80) {
    return "ERROR hot and warm pcts must not exceed 80";
  }
  if (hot_factor <= 0 || warm_factor <= 0) {
    return "ERROR hot/warm age factors must be greater than 0";
  }
  return "OK";
}

}  // namespace

bool isAdminCommand(std::string_view name) noexcept {
  return name == "cache_memlimit" || name == "slabs" || name == "lru";
}

std::string_view runAdminCommand(ServerContext& ctx, const Tokens& tokens, bool& noreply) {
  const std::size_t n = tokens.ntokens();
  const std::string_view cmd = tokens[0];
  if (cmd == "cache_memlimit") {
    if (n != 3 && n != 4) {
      return kError;
    }
    noreply = tokens.lastIsNoreply();
    return memlimit(ctx, tokens);
  }
  if (cmd == "slabs") {
    if (n == 5 && tokens[1] == "reassign") {
      return "CLIENT_ERROR slab reassignment disabled";
    }
    if (n >= 4 && tokens[1] == "automove") {
      noreply = tokens.lastIsNoreply();
      return slabsAutomove(tokens);
    }
    return kError;
  }
  // lru: with memcached's LRU maintainer off, `mode` and `temp_ttl` are errors.
  if (n < 3) {
    return kError;
  }
  noreply = tokens.lastIsNoreply();
  return tokens[1] == "tune" && n >= 7 ? lruTune(tokens) : kError;
}

}  // namespace spoold
