// What every soak client shares: the target, the tally, the deadline, and
// the steps each of them repeats (open with back-off, settle an exchange).
#pragma once

#include <cstdint>
#include <memory>
#include <random>
#include <string>

#include "mc_ops.h"
#include "soak_conn.h"
#include "soak_tally.h"

namespace spool::bench {

/// Read-only while the clients run; each client thread gets a reference.
struct ClientContext {
  SoakTarget target;
  SoakTally* tally = nullptr;
  std::uint64_t deadline_ns = 0;  ///< no client starts new work after it
  unsigned max_connections = 0;   ///< spoold's -c
  std::uint64_t seed = 0;
};

/// Each client kind runs on its own thread until the deadline, then returns
/// with every connection it opened closed.
void runVerifiedClient(const ClientContext& ctx, unsigned id, Dialect dialect);
void runKillerClient(const ClientContext& ctx, unsigned id);
void runHalfOpenClient(const ClientContext& ctx, unsigned id);
void runGarbageClient(const ClientContext& ctx, unsigned id);
void runSlowReader(const ClientContext& ctx, unsigned id);
void runChurnClient(const ClientContext& ctx, unsigned id);
void runMetadumpClient(const ClientContext& ctx, unsigned id);
void runNeverReadingPipeliner(const ClientContext& ctx, unsigned id);
void runDeepPipeliner(const ClientContext& ctx, unsigned id);

/// The per-client helpers. Not thread-safe: one per client thread.
class ClientBase {
 protected:
  ClientBase(const ClientContext& ctx, std::string name, unsigned id);

  [[nodiscard]] bool running() const noexcept;
  /// Opens, retrying after a short random back-off while the server refuses
  /// at -c (the churn client fills the slots on purpose). Null when the
  /// deadline passed, or on a real failure (then recorded).
  std::unique_ptr<SoakConn> openConn(OpenMode mode = {});
  /// Counts the verified replies; records a mismatch or a failure. True
  /// only for Exchanged::kDone.
  bool settle(Exchanged result, const SoakConn& conn, ReplyChecker& checker, const char* step);
  /// Runs `batch` on `conn` to its last reply, with the stall bound.
  bool runBatch(SoakConn& conn, Batch& batch, const char* step);
  std::uint64_t uniform(std::uint64_t lo, std::uint64_t hi) {
    return std::uniform_int_distribution<std::uint64_t>(lo, hi)(rng_);
  }
  bool chance(double p) { return std::bernoulli_distribution(p)(rng_); }
  /// Sleeps for pacing (never to wait for the server), cut short at the deadline.
  void pace(std::uint64_t min_us, std::uint64_t max_us);

  const ClientContext& ctx_;
  SoakTally& tally_;
  const std::string name_;
  std::mt19937_64 rng_;
  ReplyChecker checker_;
};

}  // namespace spool::bench
