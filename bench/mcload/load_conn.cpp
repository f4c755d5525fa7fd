#include "load_conn.h"

#include <algorithm>

#include "usage.h"

namespace spool::bench {
namespace {
constexpr std::size_t kReadChunk = 64 << 10;
constexpr int kReadsPerPump = 4;  // fairness between a thread's connections
}  // namespace

void LoadTally::merge(const LoadTally& other) {
  gets += other.gets;
  sets += other.sets;
  hits += other.hits;
  misses += other.misses;
  errors += other.errors;
  latency.merge(other.latency);
  if (first_error.empty()) {
    first_error = other.first_error;
  }
}

LoadConn::LoadConn(std::unique_ptr<ClientChannel> channel, std::unique_ptr<McProtocol> protocol, const KeySpace& keys,
                   unsigned depth, OpSource source)
    : channel_(std::move(channel)), protocol_(std::move(protocol)), keys_(keys), depth_(depth),
      source_(std::move(source)) {}

bool LoadConn::pump(bool measuring, LoadTally& tally) {
  if (!readResponses(measuring, tally)) {
    return false;
  }
  refill(nowNs());
  return flush();
}

bool LoadConn::readResponses(bool measuring, LoadTally& tally) {
  for (int reads = 0; reads < kReadsPerPump; ++reads) {
    if (in_.size() - in_end_ < kReadChunk) {
      // Move the unparsed tail to the front; grow only if that is not enough.
      std::copy(in_.begin() + static_cast<std::ptrdiff_t>(in_begin_),
                in_.begin() + static_cast<std::ptrdiff_t>(in_end_), in_.begin());
      in_end_ -= in_begin_;
      in_begin_ = 0;
      if (in_.size() - in_end_ < kReadChunk) {
        in_.resize(in_end_ + kReadChunk);
      }
    }
    const long n = channel_->read(in_.data() + in_end_, kReadChunk);
    if (n == kWouldBlock) {
      break;
    }
    if (n == 0 || n == kFailed) {
      ++tally.errors;
      if (tally.first_error.empty()) {
        tally.first_error = n == 0 ? "the server closed the connection" : "read failed";
      }
      return false;
    }
    in_end_ += static_cast<std::size_t>(n);
  }
  const std::uint64_t now = nowNs();
  while (!in_flight_.empty()) {
    const McOp& op = in_flight_.front();
    const std::string_view rest(in_.data() + in_begin_, in_end_ - in_begin_);
    const ParsedReply r = protocol_->parse(rest, op, keys_);
    if (r.reply == Reply::kIncomplete) {
      break;
    }
    if (r.reply == Reply::kBad) {
      ++tally.errors;
      if (tally.first_error.empty()) {
        tally.first_error = r.error;
      }
      return false;
    }
    if (measuring) {
      ++(op.kind == OpKind::kGet ? tally.gets : tally.sets);
      tally.hits += r.reply == Reply::kHit;
      tally.misses += r.reply == Reply::kMiss;
      tally.latency.record(now - op.sent_ns);
    }
    in_begin_ += r.consumed;
    in_flight_.pop_front();
  }
  if (in_flight_.empty() && in_end_ > in_begin_) {
    ++tally.errors;
    if (tally.first_error.empty()) {
      tally.first_error = "bytes arrived with no request outstanding";
    }
    return false;
  }
  return true;
}

void LoadConn::refill(std::uint64_t now) {
  McOp op{};
  while (in_flight_.size() < depth_ && (interval_ns_ == 0 || next_due_ns_ <= now) && source_(op)) {
    op.sent_ns = now;
    if (interval_ns_ != 0) {
      op.sent_ns = next_due_ns_;
      next_due_ns_ += interval_ns_;
    }
    protocol_->encode(op, keys_, out_);
    in_flight_.push_back(op);
  }
}

bool LoadConn::flush() {
  while (written_ < out_.size()) {
    const long n = channel_->write(out_.data() + written_, out_.size() - written_);
    if (n == kFailed) {
      return false;
    }
    if (n == 0) {
      break;
    }
    written_ += static_cast<std::size_t>(n);
  }
  if (written_ == out_.size()) {
    out_.clear();
    written_ = 0;
  }
  return true;
}

}  // namespace spool::bench
