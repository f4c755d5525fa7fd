// The reference load: pipelined gets, sets and deletes in the client's own
// key namespace, every reply predicted from a model of what it stored.
// Requests on one connection execute in order and no one else touches the
// namespace, so the model is exact: any difference is the server's.
#include <vector>

#include "soak_client.h"

namespace spool::bench {
namespace {

constexpr unsigned kKeys = 256;
// Reconnect after this many batches: connection turnover under load, with
// nothing in flight, so the model stays exact.
constexpr unsigned kBatchesPerConnection = 64;
constexpr unsigned kMaxBatch = 48;
constexpr unsigned kMultiGetKeys = 4;

class VerifiedClient final : ClientBase {
 public:
  VerifiedClient(const ClientContext& ctx, unsigned id, Dialect dialect)
      : ClientBase(ctx, "verified-", id), dialect_(dialect), id_(id), model_(kKeys) {}

  void run() {
    while (running()) {
      std::unique_ptr<SoakConn> conn = openConn();
      if (!conn || !runConnection(*conn)) {
        return;
      }
    }
  }

 private:
  bool runConnection(SoakConn& conn) {
    checker_.reset();
    for (unsigned b = 0; b < kBatchesPerConnection && running(); ++b) {
      Batch batch{{}, &checker_};
      for (auto n = uniform(1, kMaxBatch); n > 0; --n) {
        addRandomOp(batch, n == 1);
      }
      if (!runBatch(conn, batch, "pipelined batch")) {
        return false;  // the stream (or the model) can no longer be trusted
      }
    }
    return true;
  }

  /// A batch never ends with a quiet set: the batch's last reply then
  /// proves every command of it executed. Otherwise a quiet set could still
  /// be unexecuted when the connection closes, and then run after the next
  /// connection's get (nothing orders two connections), or not at all
  /// (workers mode over TLS drops the commands still queued when the peer
  /// closes without close_notify).
  void addRandomOp(Batch& batch, bool last) {
    const auto i = static_cast<unsigned>(uniform(0, kKeys - 1));
    const std::uint64_t dice = uniform(0, 99);
    if (dice < 35) {
      model_[i] = Stored{static_cast<std::uint32_t>(rng_()), randomValue(rng_, valueSize())};
      addSet(batch, dialect_, key(i), *model_[i], /*quiet=*/dice < 3 && !last);
    } else if (dice < 80 || (dice < 90 && dialect_ == Dialect::kMeta)) {
      addGet(batch, dialect_, key(i), model_[i]);
    } else if (dice < 90) {
      addMultiGetAround(batch, i);
    } else {
      addDelete(batch, dialect_, key(i), model_[i].has_value());
      model_[i].reset();
    }
  }

  void addMultiGetAround(Batch& batch, unsigned first) {
    std::vector<std::string> keys;
    std::vector<const Slot*> slots;
    for (unsigned k = 0; k < kMultiGetKeys; ++k) {
      const unsigned i = (first + k * 37) % kKeys;
      keys.push_back(key(i));
      slots.push_back(&model_[i]);
    }
    addMultiGet(batch, keys, slots);
  }

  /// Mostly small, some a few KiB, a few large enough to span many reads.
  std::size_t valueSize() {
    const std::uint64_t dice = uniform(0, 99);
    return dice < 70 ? uniform(1, 256) : dice < 95 ? uniform(257, 8192) : uniform(8193, 128 << 10);
  }

  [[nodiscard]] std::string key(unsigned i) const {
    return "soak:v" + std::to_string(id_) + ":" + std::to_string(i);
  }

  const Dialect dialect_;
  const unsigned id_;
  std::vector<Slot> model_;
};

}  // namespace

void runVerifiedClient(const ClientContext& ctx, unsigned id, Dialect dialect) {
  VerifiedClient(ctx, id, dialect).run();
}

}  // namespace spool::bench
