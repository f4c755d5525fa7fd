// Clients killed mid-request: a pipeline of sets and gets, cut after a
// random number of its bytes or of its replies, then a reset (SO_LINGER 0),
// as when a client process dies. The replies read before the kill are
// still verified.
#include <algorithm>
#include <vector>

#include "soak_client.h"
#include "usage.h"

namespace spool::bench {
namespace {

constexpr unsigned kKeysPerConnection = 4;
// Each connection writes its own keys, reused only this many connections
// later: a killed connection's last commands, still executing on the
// server, cannot overwrite the keys a later connection reads back.
constexpr unsigned kGenerations = 4096;
constexpr std::size_t kBigValue = 256 << 10;

class KillerClient final : ClientBase {
 public:
  KillerClient(const ClientContext& ctx, unsigned id) : ClientBase(ctx, "killer-", id), id_(id) {}

  void run() {
    if (!storeBigValue()) {
      return;
    }
    for (std::uint64_t generation = 0; running(); ++generation) {
      std::unique_ptr<SoakConn> conn = openConn();
      if (!conn || !killOne(std::move(conn), generation)) {
        return;
      }
    }
  }

 private:
  /// One large value, fetched by some pipelines so that the kill can land
  /// in the middle of a long reply.
  bool storeBigValue() {
    std::unique_ptr<SoakConn> conn = openConn();
    if (!conn) {
      return false;
    }
    big_ = Stored{7, randomValue(rng_, kBigValue)};
    Batch batch{{}, &checker_};
    addSet(batch, Dialect::kText, bigKey(), *big_);
    return runBatch(*conn, batch, "storing the large value");
  }

  /// Sets and reads back this generation's keys (one get may fetch the
  /// large value instead). Returns where each request ends in batch.out.
  std::vector<std::size_t> buildPipeline(Batch& batch, std::uint64_t generation) {
    std::vector<std::size_t> ends;
    const bool with_big = chance(0.3);
    for (unsigned i = 0; i < kKeysPerConnection; ++i) {
      const std::string key = "soak:k" + std::to_string(id_) + ":" +
                              std::to_string(generation % kGenerations) + ":" + std::to_string(i);
      const Stored stored{i, randomValue(rng_, uniform(8, 512))};
      addSet(batch, Dialect::kText, key, stored);
      ends.push_back(batch.out.size());
      const bool big = i == 1 && with_big;
      addGet(batch, Dialect::kText, big ? bigKey() : key, big ? big_ : Slot(stored));
      ends.push_back(batch.out.size());
    }
    return ends;
  }

  /// Writes all or part of the pipeline, reads some of the replies, resets.
  bool killOne(std::unique_ptr<SoakConn> conn, std::uint64_t generation) {
    Batch batch{{}, &checker_};
    const std::vector<std::size_t> ends = buildPipeline(batch, generation);
    const bool mid_request = chance(0.5);
    // Mid-request: cut anywhere, even inside a command. Mid-reply: send
    // everything and leave at least one reply unread.
    const std::size_t cut = mid_request ? uniform(1, batch.out.size() - 1) : batch.out.size();
    const auto complete =
        static_cast<std::size_t>(std::upper_bound(ends.begin(), ends.end(), cut) - ends.begin());
    const std::size_t wait_for = uniform(0, mid_request || complete == 0 ? complete : complete - 1);
    tally_.requests(complete);
    const Exchanged result = conn->exchange(std::string_view(batch.out).substr(0, cut), checker_,
                                            ends.size() - wait_for, nowNs() + kStallNs);
    const bool ok = settle(result, *conn, checker_,
                           mid_request ? "before a kill mid-request" : "before a kill mid-reply");
    SoakConn::abortWithReset(std::move(conn));
    checker_.reset();
    tally_.fault(mid_request ? Fault::kKilledMidRequest : Fault::kKilledMidResponse);
    return ok;
  }

  [[nodiscard]] std::string bigKey() const { return "soak:k" + std::to_string(id_) + ":big"; }

  const unsigned id_;
  Slot big_;
};

}  // namespace

void runKillerClient(const ClientContext& ctx, unsigned id) {
  KillerClient(ctx, id).run();
}

}  // namespace spool::bench
