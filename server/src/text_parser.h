// Pure helpers of the text protocol: tokenizing a command line.
#pragma once

#include <array>
#include <cstddef>
#include <string>
#include <string_view>

#include "protocol.h"

namespace spoold {

/// A command line split on spaces, as memcached's tokenizer does: at most
/// kMaxTokens - 1 tokens; whatever follows the last of them is `rest`
/// (non-empty only when the line had more tokens than that).
struct Tokens {
  static constexpr std::size_t kMaxTokens = 24;
  std::array<std::string_view, kMaxTokens - 1> token{};
  std::size_t count = 0;
  std::string_view rest;

  /// memcached's `ntokens`: the tokens plus its terminal token.
  [[nodiscard]] std::size_t ntokens() const noexcept { return count + 1; }
  [[nodiscard]] std::string_view operator[](std::size_t i) const noexcept {
    return i < count ? token[i] : std::string_view{};
  }
  /// memcached's noreply test: the last token is "noreply".
  [[nodiscard]] bool lastIsNoreply() const noexcept {
    return count > 0 && rest.empty() && token[count - 1] == "noreply";
  }
};

/// Splits `line` (without its line ending) on ' '.
Tokens tokenize(std::string_view line) noexcept;

/// Where a text command line ends.
struct LineEnd {
  std::size_t content = 0;  ///< length of the line without "\r\n" or "\n"
  std::size_t next = 0;     ///< offset just past the '\n'
};

/// Finds the end of the first line of `input`, searching from `from`
/// (bytes before it are known to hold no newline). @return false when there
/// is no '\n' yet.
bool findLineEnd(std::string_view input, std::size_t from, LineEnd& end) noexcept;

/// memcached's rule for a line that has no newline after 2048 bytes: only a
/// (large) get/gets may continue; anything else closes the connection.
bool mayBeLongGet(std::string_view partial_line) noexcept;

/// memcached's rule for an unknown command line: when its last token starts
/// with "HTTP/" (an HTTP request line) the connection is closed without an
/// answer. Commands starting with one of memcached's dispatch letters
/// (g, s, a, c, i, d, t) answer ERROR instead, as there.
bool looksLikeHttp(const Tokens& tokens) noexcept;

/// Percent-encodes `key` like memcached's metadump (unreserved characters kept).
void uriEncode(std::string_view key, std::string& out);


/// Parses the argument of `lru_crawler metadump`: "all", or comma-separated
/// slab class ids in [1, class_count]. @return false for a bad class.
bool parseMetadumpClasses(std::string_view arg, std::size_t class_count, MetadumpRequest& out);

}  // namespace spoold
