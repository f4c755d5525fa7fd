#include "text_parser.h"

#include <algorithm>
#include <cstring>

#include "numbers.h"

namespace spoold {

Tokens tokenize(std::string_view line) noexcept {
  Tokens t;
  std::size_t start = 0;
  for (std::size_t i = 0; i < line.size(); ++i) {
    if (line[i] != ' ') {
      continue;
    }
    if (i != start) {
      t.token[t.count++] = line.substr(start, i - start);
      if (t.count == Tokens::kMaxTokens - 1) {
        t.rest = line.substr(i + 1);
        return t;
      }
    }
    start = i + 1;
  }
  if (start < line.size()) {
    t.token[t.count++] = line.substr(start);
  }
  return t;
}

bool findLineEnd(std::string_view input, std::size_t from, LineEnd& end) noexcept {
  if (from >= input.size()) {
    return false;
  }
  const void* hit = std::memchr(input.data() + from, '\n', input.size() - from);
  if (hit == nullptr) {
    return false;
  }
  const auto newline = static_cast<std::size_t>(static_cast<const char*>(hit) - input.data());
  end.next = newline + 1;
  end.content = newline > 1 && input[newline - 1] == '\r' ? newline - 1 : newline;
  return true;
}

bool mayBeLongGet(std::string_view partial_line) noexcept {
  std::size_t i = 0;
  while (i < partial_line.size() && partial_line[i] == ' ') {
    ++i;
  }
  if (i > 100) {
    return false;
  }
  const std::string_view rest = partial_line.substr(i);
  return rest.starts_with("get ") || rest.starts_with("gets ");
}

void uriEncode(std::string_view key, std::string& out) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (const char c : key) {
    const auto u = static_cast<unsigned char>(c);
    const bool keep = (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || (u >= '0' && u <= '9') ||
                      u == '-' || u == '.' || u == '_' || u == '~';
    if (keep) {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 15]);
    }
  }
}


bool parseMetadumpClasses(std::string_view arg, std::size_t class_count, MetadumpRequest& out) {
  out = MetadumpRequest{};
  if (arg == "all" || arg == "hash") {  // memcached: "hash" walks its hash table, all the same
    return true;
  }
  out.all = false;
  while (!arg.empty()) {
    const std::size_t comma = arg.find(',');
    const std::string_view part = arg.substr(0, comma);
    std::uint32_t id = 0;
    if (!parseU32(part, id) || id < 1 || id > class_count) {
      return false;
    }
    out.classes.push_back(static_cast<std::uint8_t>(id));
    arg = comma == std::string_view::npos ? std::string_view{} : arg.substr(comma + 1);
  }
  return !out.classes.empty();
}

bool looksLikeHttp(const Tokens& tokens) noexcept {
  if (tokens.count == 0 || tokens[0].empty()) {
    return false;
  }
  // Names memcached dispatches before its final fallback: they answer.
  constexpr std::string_view kDispatchLetters = "gsacidt";
  constexpr std::array<std::string_view, 5> kAnswered = {"watch", "lru", "lru_crawler", "extstore",
                                                         "refresh_certs"};
  const std::string_view cmd = tokens[0];
  return kDispatchLetters.find(cmd[0]) == std::string_view::npos &&
         std::find(kAnswered.begin(), kAnswered.end(), cmd) == kAnswered.end() &&
         tokens[tokens.count - 1].starts_with("HTTP/");
}

}  // namespace spoold
