#include "reply_checker.h"

#include <algorithm>
#include <cstdio>
#include <cstring>

namespace spool::bench {

std::string printable(std::string_view bytes, std::size_t limit) {
  std::string out;
  for (const char c : bytes.substr(0, limit)) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '\r') {
      out += "\\r";
    } else if (c == '\n') {
      out += "\\n";
    } else if (u < 0x20 || u >= 0x7f || c == '"' || c == '\\') {
      char esc[8];
      std::snprintf(esc, sizeof(esc), "\\x%02x", u);
      out += esc;
    } else {
      out += c;
    }
  }
  return bytes.size() > limit ? out + "..." : out;
}

void ReplyChecker::expect(std::string_view bytes) {
  // Consecutive literals merge: fewer segments to walk.
  if (!segments_.empty() && !segments_.back().boundary && !segments_.back().shared) {
    segments_.back().own.append(bytes);
    return;
  }
  segments_.push_back(Segment{std::string(bytes), nullptr, false});
}

void ReplyChecker::expect(ValuePtr value) {
  segments_.push_back(Segment{{}, std::move(value), false});
}

void ReplyChecker::endReply(std::string request) {
  segments_.push_back(Segment{std::move(request), nullptr, true});
  ++pending_;
}

bool ReplyChecker::consume(std::string_view data) {
  while (!data.empty()) {
    popBoundaries();
    if (segments_.empty()) {
      describe({}, data, 0);
      return false;
    }
    const std::string_view want = segments_.front().view().substr(offset_);
    const std::size_t n = std::min(want.size(), data.size());
    if (std::memcmp(want.data(), data.data(), n) != 0) {
      const auto at = static_cast<std::size_t>(
          std::mismatch(want.begin(), want.begin() + static_cast<std::ptrdiff_t>(n), data.begin())
              .first -
          want.begin());
      describe(want.substr(at), data.substr(at), at);
      return false;
    }
    offset_ += n;
    reply_offset_ += n;
    data.remove_prefix(n);
    if (offset_ == segments_.front().view().size()) {
      segments_.pop_front();
      offset_ = 0;
    }
  }
  popBoundaries();
  return true;
}

void ReplyChecker::popBoundaries() {
  while (!segments_.empty() && segments_.front().boundary) {
    segments_.pop_front();
    --pending_;
    ++completed_;
    ++replies_seen_;
    reply_offset_ = 0;
  }
}

void ReplyChecker::describe(std::string_view expected, std::string_view got, std::size_t at) {
  mismatch_ = "reply #" + std::to_string(replies_seen_ + 1) + " on its connection (to \"" +
              currentRequest() + "\"), byte " + std::to_string(reply_offset_ + at) +
              ": expected \"" + printable(expected) + "\", got \"" + printable(got) + "\"";
}

std::string ReplyChecker::currentRequest() const {
  for (const Segment& segment : segments_) {
    if (segment.boundary) {
      return printable(segment.own, 80);
    }
  }
  return "none: no reply was expected";
}

std::uint64_t ReplyChecker::takeCompleted() noexcept {
  const std::uint64_t n = completed_;
  completed_ = 0;
  return n;
}

void ReplyChecker::reset() {
  segments_.clear();
  offset_ = 0;
  pending_ = 0;
  replies_seen_ = 0;
  reply_offset_ = 0;
  mismatch_.clear();
}

}  // namespace spool::bench
