// Pipeliners, the two ends of a deep pipeline:
// - one that pipelines small gets of a 64 KiB value and never reads a
//   reply: the server must stop reading it (its send budget full) rather
//   than take its input and queue work without bound; it then resets with
//   every reply unread. (spoold's e2e test and bench/unread_flood.py make
//   the same attack with millions of small sets; here, among every other
//   fault, large replies reach the hold after a few hundred requests.)
// - one that writes 5,000-20,000 sets while reading every reply, each
//   verified: in workers mode the runner's cost per command must not grow
//   with the depth of what is queued behind it.
#include "soak_client.h"
#include "usage.h"

namespace spool::bench {
namespace {

constexpr std::size_t kGetsPerBlock = 256;
constexpr std::size_t kValueBytes = 64 << 10;
// Past what the kernel's socket buffers hold on the way in (the client's
// send buffer, up to 4 MiB, and the server's receive buffer, which grows
// only while the server reads), and the replies to it are 250 GiB, far past
// the send budget: a server that takes it all from a client that reads
// nothing has no bound.
constexpr std::size_t kUnboundedBytes = 64u << 20;
// How long a write may wait before the server counts as having stopped
// reading: the expected end of every flood, so short, but far beyond one
// loop turn of a server that still reads.
constexpr std::uint64_t kStoppedReadingNs = 2'000'000'000;
constexpr std::uint64_t kMinDepth = 5'000;
constexpr std::uint64_t kMaxDepth = 20'000;

class NeverReadingPipeliner final : ClientBase {
 public:
  NeverReadingPipeliner(const ClientContext& ctx, unsigned id)
      : ClientBase(ctx, "never-reading-pipeliner-", id), key_("soak:p" + std::to_string(id)) {}

  void run() {
    if (!storeValue()) {
      return;
    }
    while (running()) {
      std::unique_ptr<SoakConn> conn = openConn();
      if (!conn) {
        return;
      }
      flood(std::move(conn));
      pace(1'000'000, 2'000'000);
    }
  }

 private:
  bool storeValue() {
    std::unique_ptr<SoakConn> conn = openConn();
    if (!conn) {
      return false;
    }
    Batch batch{{}, &checker_};
    addSet(batch, Dialect::kText, key_, Stored{0, randomValue(rng_, kValueBytes)});
    return runBatch(*conn, batch, "storing the flood's value");
  }

  void flood(std::unique_ptr<SoakConn> conn) {
    std::string block;
    for (std::size_t i = 0; i < kGetsPerBlock; ++i) {
      block += "get " + key_ + "\r\n";
    }
    std::size_t sent = 0;
    while (sent < kUnboundedBytes) {
      if (!conn->sendAll(block, nowNs() + kStoppedReadingNs)) {
        break;  // the server stopped reading (or dropped us: also fine)
      }
      sent += block.size();
      tally_.requests(kGetsPerBlock);
    }
    if (sent >= kUnboundedBytes) {
      tally_.failure(name_, "the server read " + std::to_string(sent >> 20) +
                                " MiB of gets from a client that reads nothing, without stopping");
    }
    tally_.fault(Fault::kFloodUnread);
    SoakConn::abortWithReset(std::move(conn));  // every reply unread
  }

  const std::string key_;
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
      pace(2'000'000, 3'000'000);
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
