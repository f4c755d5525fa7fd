#include "text_protocols.h"

#include <charconv>
#include <array>

namespace spool::bench {
namespace {

// A reply line longer than this without CRLF is garbage, not a partial read.
constexpr std::size_t kMaxLine = 4096;

/// The first line of `in` without its CRLF, or nothing yet.
struct Line {
  bool complete = false;
  bool too_long = false;
  std::string_view text;
  std::size_t size_with_crlf = 0;
};

Line firstLine(std::string_view in) {
  const auto end = in.find("\r\n");
  if (end == std::string_view::npos) {
    return {false, in.size() > kMaxLine, {}, 0};
  }
  return {true, false, in.substr(0, end), end + 2};
}

using Tokens = std::array<std::string_view, 8>;

/// Splits `line` on spaces into `out` (at most its size); returns the count.
std::size_t tokenize(std::string_view line, Tokens& out) {
  std::size_t n = 0;
  std::size_t pos = 0;
  while (pos < line.size() && n < out.size()) {
    const auto space = line.find(' ', pos);
    const auto end = space == std::string_view::npos ? line.size() : space;
    if (end > pos) {
      out[n++] = line.substr(pos, end - pos);
    }
    pos = end + 1;
  }
  return n;
}

bool toNumber(std::string_view text, std::size_t& out) {
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && ptr == text.data() + text.size();
}

ParsedReply bad(std::string why, std::string_view line) {
  return {Reply::kBad, 0, why + ": \"" + std::string(line.substr(0, 80)) + "\""};
}

/// Checks `<data>\r\n<trailer>` after a header line of `header` bytes.
ParsedReply checkValue(std::string_view in, std::size_t header, std::size_t bytes, std::string_view trailer,
                       std::uint64_t key, const KeySpace& keys) {
  const std::size_t total = header + bytes + 2 + trailer.size();
  if (in.size() < total) {
    return {};
  }
  if (bytes != keys.valueSize() || in.substr(header, bytes) != keys.value(key)) {
    return bad("value does not match what was stored", in.substr(0, header));
  }
  if (in.substr(header + bytes, 2) != "\r\n" || in.substr(header + bytes + 2, trailer.size()) != trailer) {
    return bad("bad value trailer", in.substr(0, header));
  }
  return {Reply::kHit, total, {}};
}

/// What differs between the classic text protocol and the meta protocol.
struct Dialect {
  std::string_view get_prefix, get_suffix;  // "get " k "\r\n"  |  "mg " k " v k\r\n"
  std::string_view set_prefix, set_middle;  // "set " k " 0 0 " n  |  "ms " k " " n
  std::string_view stored, miss;            // "STORED", "END"  |  "HD", "EN"
  std::string_view trailer;                 // after a hit's data: "END\r\n"  |  nothing
  bool meta;                                // hit line: "VALUE k f n"  |  "VA n k<key>"
};

constexpr Dialect kText{"get ", "\r\n", "set ", " 0 0 ", "STORED", "END", "END\r\n", false};
constexpr Dialect kMeta{"mg ", " v k\r\n", "ms ", " ", "HD", "EN", "", true};

class LineProtocol final : public McProtocol {
 public:
  explicit LineProtocol(const Dialect& dialect) : d_(dialect) {}

  void encode(const McOp& op, const KeySpace& keys, std::string& out) const override {
    keys.key(op.key, key_);
    if (op.kind == OpKind::kGet) {
      out.append(d_.get_prefix).append(key_).append(d_.get_suffix);
      return;
    }
    const auto value = keys.value(op.key);
    out.append(d_.set_prefix).append(key_).append(d_.set_middle).append(std::to_string(value.size()));
    out.append("\r\n").append(value).append("\r\n");
  }

  ParsedReply parse(std::string_view in, const McOp& op, const KeySpace& keys) const override {
    const Line line = firstLine(in);
    if (!line.complete) {
      return line.too_long ? bad("reply line too long", in) : ParsedReply{};
    }
    if (op.kind == OpKind::kSet) {
      return line.text == d_.stored ? ParsedReply{Reply::kStored, line.size_with_crlf, {}}
                                    : bad("expected " + std::string(d_.stored), line.text);
    }
    if (line.text == d_.miss) {
      return {Reply::kMiss, line.size_with_crlf, {}};
    }
    keys.key(op.key, key_);
    std::size_t bytes = 0;
    if (!hitLineMatches(line.text, bytes)) {
      return bad(std::string(d_.meta ? "expected VA <size> k" : "expected VALUE ") + key_, line.text);
    }
    return checkValue(in, line.size_with_crlf, bytes, d_.trailer, op.key, keys);
  }

 private:
  bool hitLineMatches(std::string_view line, std::size_t& bytes) const {
    Tokens t;
    const std::size_t n = tokenize(line, t);
    if (d_.meta) {
      return n >= 3 && t[0] == "VA" && toNumber(t[1], bytes) && t[2].size() == key_.size() + 1 &&
             t[2][0] == 'k' && t[2].substr(1) == key_;
    }
    return n >= 4 && t[0] == "VALUE" && t[1] == key_ && toNumber(t[3], bytes);
  }

  const Dialect& d_;
  mutable std::string key_;  // scratch: one protocol object per connection
};

}  // namespace

std::unique_ptr<McProtocol> makeTextProtocol() { return std::make_unique<LineProtocol>(kText); }
std::unique_ptr<McProtocol> makeMetaProtocol() { return std::make_unique<LineProtocol>(kMeta); }

}  // namespace spool::bench
