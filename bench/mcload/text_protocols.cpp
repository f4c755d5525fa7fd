#include "text_protocols.h"

#include <charconv>
#include <vector>

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

std::vector<std::string_view> tokens(std::string_view line) {
  std::vector<std::string_view> out;
  std::size_t pos = 0;
  while (pos < line.size()) {
    const auto space = line.find(' ', pos);
    const auto end = space == std::string_view::npos ? line.size() : space;
    if (end > pos) {
      out.push_back(line.substr(pos, end - pos));
    }
    pos = end + 1;
  }
  return out;
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

class TextProtocol final : public McProtocol {
 public:
  void encode(const McOp& op, const KeySpace& keys, std::string& out) const override {
    keys.key(op.key, key_);
    if (op.kind == OpKind::kGet) {
      out.append("get ").append(key_).append("\r\n");
      return;
    }
    const auto value = keys.value(op.key);
    out.append("set ").append(key_).append(" 0 0 ").append(std::to_string(value.size())).append("\r\n");
    out.append(value).append("\r\n");
  }

  ParsedReply parse(std::string_view in, const McOp& op, const KeySpace& keys) const override {
    const Line line = firstLine(in);
    if (!line.complete) {
      return line.too_long ? bad("reply line too long", in) : ParsedReply{};
    }
    if (op.kind == OpKind::kSet) {
      return line.text == "STORED" ? ParsedReply{Reply::kStored, line.size_with_crlf, {}}
                                   : bad("expected STORED", line.text);
    }
    if (line.text == "END") {
      return {Reply::kMiss, line.size_with_crlf, {}};
    }
    const auto t = tokens(line.text);
    std::size_t bytes = 0;
    keys.key(op.key, key_);
    if (t.size() < 4 || t[0] != "VALUE" || t[1] != key_ || !toNumber(t[3], bytes)) {
      return bad("expected VALUE " + key_, line.text);
    }
    return checkValue(in, line.size_with_crlf, bytes, "END\r\n", op.key, keys);
  }

 private:
  mutable std::string key_;  // scratch: one protocol object per connection
};

class MetaProtocol final : public McProtocol {
 public:
  void encode(const McOp& op, const KeySpace& keys, std::string& out) const override {
    keys.key(op.key, key_);
    if (op.kind == OpKind::kGet) {
      out.append("mg ").append(key_).append(" v k\r\n");
      return;
    }
    const auto value = keys.value(op.key);
    out.append("ms ").append(key_).append(" ").append(std::to_string(value.size())).append("\r\n");
    out.append(value).append("\r\n");
  }

  ParsedReply parse(std::string_view in, const McOp& op, const KeySpace& keys) const override {
    const Line line = firstLine(in);
    if (!line.complete) {
      return line.too_long ? bad("reply line too long", in) : ParsedReply{};
    }
    if (op.kind == OpKind::kSet) {
      return line.text == "HD" ? ParsedReply{Reply::kStored, line.size_with_crlf, {}} : bad("expected HD", line.text);
    }
    if (line.text == "EN") {
      return {Reply::kMiss, line.size_with_crlf, {}};
    }
    const auto t = tokens(line.text);
    std::size_t bytes = 0;
    keys.key(op.key, key_);
    if (t.size() < 3 || t[0] != "VA" || !toNumber(t[1], bytes) || t[2] != "k" + key_) {
      return bad("expected VA <size> k" + key_, line.text);
    }
    return checkValue(in, line.size_with_crlf, bytes, {}, op.key, keys);
  }

 private:
  mutable std::string key_;
};

}  // namespace

std::unique_ptr<McProtocol> makeTextProtocol() { return std::make_unique<TextProtocol>(); }
std::unique_ptr<McProtocol> makeMetaProtocol() { return std::make_unique<MetaProtocol>(); }

}  // namespace spool::bench
