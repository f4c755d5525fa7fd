// The byte stream a connection must receive, reply by reply: requests are
// answered in order, so every expected reply is known when its request is
// written, and what arrives is compared against it byte for byte.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>

namespace spool::bench {

/// A stored value, shared between the client's model and the expectations
/// (large values are not copied per get).
using ValuePtr = std::shared_ptr<const std::string>;

/// Not thread-safe: owned by one client thread.
class ReplyChecker {
 public:
  /// Appends `bytes` (copied) to the reply being described.
  void expect(std::string_view bytes);
  /// Appends a stored value, by reference.
  void expect(ValuePtr value);
  /// Ends the reply being described: one more reply pending. `request`
  /// names it in a mismatch report.
  void endReply(std::string request = {});

  /// Compares received bytes with what is expected next. False at the first
  /// difference (or bytes nobody asked for); mismatch() says where.
  bool consume(std::string_view data);
  [[nodiscard]] std::size_t pending() const noexcept { return pending_; }
  /// Replies completed and matched since the last call.
  std::uint64_t takeCompleted() noexcept;
  [[nodiscard]] const std::string& mismatch() const noexcept { return mismatch_; }
  /// Forgets every expectation (the connection is gone).
  void reset();

 private:
  struct Segment {
    std::string own;  // the bytes, or for a boundary the request's name
    ValuePtr shared;
    bool boundary = false;
    [[nodiscard]] std::string_view view() const noexcept {
      return shared ? std::string_view(*shared) : own;
    }
  };
  void popBoundaries();
  void describe(std::string_view expected, std::string_view got, std::size_t at);
  [[nodiscard]] std::string currentRequest() const;

  std::deque<Segment> segments_;
  std::size_t offset_ = 0;  // into the front segment
  std::size_t pending_ = 0;
  std::uint64_t completed_ = 0;
  std::uint64_t replies_seen_ = 0;  // since the last reset(), for the message
  std::size_t reply_offset_ = 0;    // bytes of the current reply matched so far
  std::string mismatch_;
};

/// `bytes` with control and non-ASCII bytes escaped, at most `limit` of them.
std::string printable(std::string_view bytes, std::size_t limit = 48);

}  // namespace spool::bench
