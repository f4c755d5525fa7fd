// Pipeliners, the two ends of a deep pipeline:
// - one that writes small sets back to back and never reads a reply: the
//   server must stop reading it (its send budget full, its queued input at
//   the limit) rather than take its input and queue work without bound; it
//   then resets with every reply unread;
// - one that writes tens of thousands of sets while reading every reply,
//   each verified: in workers mode the runner's cost per command must not
//   grow with the depth of what is queued behind it.
#include "soak_client.h"
#include "usage.h"

namespace spool::bench {
namespace {

constexpr std::size_t kSetsPerBlock = 2048;
// Past what the kernel's buffers, the send budget and the queued-input
// bound let in (about 16 MiB of 30-byte sets for 4 MiB of 8-byte replies
// in the server's socket, then 1 MiB of budget and 256 KiB of queue): a
// server that takes this much from a client that reads nothing has no bound.
constexpr std::size_t kUnboundedBytes = 96u << 20;
// How long a write may wait before the server counts as having stopped
// reading: the expected end of every flood, so short, but far beyond one
// loop turn of a server that still reads.
constexpr std::uint64_t kStoppedReadingNs = 2'000'000'000;
constexpr std::uint64_t kMinDepth = 20'000;
constexpr std::uint64_t kMaxDepth = 100'000;

class NeverReadingPipeliner final : ClientBase {
 public:
  NeverReadingPipeliner(const ClientContext& ctx, unsigned id)
      : ClientBase(ctx, "never-reading-pipeliner-", id),
        block_(floodBlock("soak:p" + std::to_string(id))) {}

  void run() {
    while (running()) {
      std::unique_ptr<SoakConn> conn = openConn();
      if (!conn) {
        return;
      }
      flood(std::move(conn));
      pace(100'000, 300'000);
    }
  }

 private:
  static std::string floodBlock(const std::string& key) {
    std::string block;
    for (std::size_t i = 0; i < kSetsPerBlock; ++i) {
      block += "set " + key + " 0 0 10\r\n0123456789\r\n";
    }
    return block;
  }

  void flood(std::unique_ptr<SoakConn> conn) {
    std::size_t sent = 0;
    while (sent < kUnboundedBytes) {
      if (!conn->sendAll(block_, nowNs() + kStoppedReadingNs)) {
        break;  // the server stopped reading (or dropped us: also fine)
      }
      sent += block_.size();
      tally_.requests(kSetsPerBlock);
    }
    if (sent >= kUnboundedBytes) {
      tally_.failure(name_, "the server read " + std::to_string(sent >> 20) +
                                " MiB from a client that reads nothing, without stopping");
    }
    tally_.fault(Fault::kFloodUnread);
    SoakConn::abortWithReset(std::move(conn));  // every reply unread
  }

  const std::string block_;
};

class DeepPipeliner final : ClientBase {
 public:
  DeepPipeliner(const ClientContext& ctx, unsigned id)
      : ClientBase(ctx, "deep-pipeliner-", id), id_(id) {}

  void run() {
    while (running()) {
      std::unique_ptr<SoakConn> conn = openConn();
      if (!conn || !pipeline(*conn)) {
        return;
      }
      pace(100'000, 500'000);
    }
  }

 private:
  bool pipeline(SoakConn& conn) {
    Batch batch{{}, &checker_};
    const std::string prefix = "soak:d" + std::to_string(id_) + ":";
    const Stored stored{0, randomValue(rng_, 16)};
    for (auto n = uniform(kMinDepth, kMaxDepth); n > 0; --n) {
      addSet(batch, Dialect::kText, prefix + std::to_string(n % 64), stored);
    }
    const bool ok = runBatch(conn, batch, "deep pipeline");
    checker_.reset();
    tally_.fault(Fault::kDeepPipeline);
    return ok;
  }

  const unsigned id_;
};

}  // namespace

void runNeverReadingPipeliner(const ClientContext& ctx, unsigned id) {
  NeverReadingPipeliner(ctx, id).run();
}

void runDeepPipeliner(const ClientContext& ctx, unsigned id) {
  DeepPipeliner(ctx, id).run();
}

}  // namespace spool::bench
