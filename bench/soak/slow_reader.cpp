// Slow readers: many large gets pipelined at once, then a pause without
// reading (the server's send budget fills and it must stop reading this
// connection instead of buffering), then small paced reads. Every byte is
// verified; some readers give up half way and close with replies unread.
#include <vector>

#include "soak_client.h"
#include "usage.h"

namespace spool::bench {
namespace {

constexpr unsigned kKeys = 8;
constexpr std::size_t kMinValue = 128 << 10;
constexpr std::size_t kMaxValue = 384 << 10;
constexpr ReadPace kSlowPace{16 << 10, 500};

class SlowReader final : ClientBase {
 public:
  SlowReader(const ClientContext& ctx, unsigned id)
      : ClientBase(ctx, "slow-reader-", id), id_(id) {}

  void run() {
    if (!storeValues()) {
      return;
    }
    while (running()) {
      std::unique_ptr<SoakConn> conn = openConn();
      if (!conn || !readSlowly(std::move(conn))) {
        return;
      }
    }
  }

 private:
  bool storeValues() {
    std::unique_ptr<SoakConn> conn = openConn();
    if (!conn) {
      return false;
    }
    Batch batch{{}, &checker_};
    for (unsigned i = 0; i < kKeys; ++i) {
      values_.push_back(Stored{i, randomValue(rng_, uniform(kMinValue, kMaxValue))});
      addSet(batch, Dialect::kText, key(i), *values_.back());
    }
    return runBatch(*conn, batch, "storing the large values");
  }

  bool readSlowly(std::unique_ptr<SoakConn> conn) {
    Batch batch{{}, &checker_};
    for (auto n = uniform(16, 48); n > 0; --n) {
      const auto i = static_cast<unsigned>(uniform(0, kKeys - 1));
      addGet(batch, Dialect::kText, key(i), values_[i]);
    }
    tally_.requests(batch.requests);
    const std::uint64_t deadline = nowNs() + kStallNs;
    if (!conn->sendAll(batch.out, deadline)) {
      return settle(Exchanged::kError, *conn, checker_, "slow reader: writing");
    }
    pace(100'000, 500'000);  // not reading at all, for a while
    const bool abandon = chance(0.25);
    const std::size_t leave = abandon ? uniform(1, batch.requests) : 0;
    const bool ok = settle(conn->exchange("", checker_, leave, deadline, kSlowPace), *conn,
                           checker_, "slow reader");
    checker_.reset();
    tally_.fault(abandon ? Fault::kSlowReaderAbandoned : Fault::kSlowReader);
    return ok;  // closing with replies unread makes the kernel send RST
  }

  [[nodiscard]] std::string key(unsigned i) const {
    return "soak:s" + std::to_string(id_) + ":" + std::to_string(i);
  }

  const unsigned id_;
  std::vector<Slot> values_;
};

}  // namespace

void runSlowReader(const ClientContext& ctx, unsigned id) {
  SlowReader(ctx, id).run();
}

}  // namespace spool::bench
