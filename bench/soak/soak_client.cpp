#include "soak_client.h"

#include <algorithm>
#include <thread>

#include "usage.h"

namespace spool::bench {

ClientBase::ClientBase(const ClientContext& ctx, std::string name, unsigned id)
    : ctx_(ctx),
      tally_(*ctx.tally),
      name_(std::move(name) + std::to_string(id)),
      rng_(ctx.seed * 1'000'003 + std::hash<std::string>{}(name_)) {}

bool ClientBase::running() const noexcept {
  return nowNs() < ctx_.deadline_ns;
}

std::unique_ptr<SoakConn> ClientBase::openConn(OpenMode mode) {
  while (running()) {
    std::unique_ptr<SoakConn> conn;
    std::string why;
    switch (SoakConn::open(ctx_.target, nowNs() + kStallNs, conn, why, mode)) {
      case Opened::kOk: return conn;
      case Opened::kRefused: tally_.refused(); break;
      case Opened::kError: tally_.failure(name_, "open: " + why); return nullptr;
    }
    pace(2'000, 20'000);
  }
  return nullptr;
}

bool ClientBase::settle(Exchanged result, const SoakConn& conn, ReplyChecker& checker,
                        const char* step) {
  tally_.verified(checker.takeCompleted());
  if (result == Exchanged::kDone) {
    return true;
  }
  if (result == Exchanged::kMismatch) {
    tally_.mismatch(name_, std::string(step) + ": " + checker.mismatch());
  } else {
    tally_.failure(name_, std::string(step) + ": " + conn.error());
  }
  return false;
}

bool ClientBase::runBatch(SoakConn& conn, Batch& batch, const char* step) {
  tally_.requests(batch.requests);
  return settle(conn.exchange(batch.out, *batch.checker, 0, nowNs() + kStallNs), conn,
                *batch.checker, step);
}

void ClientBase::pace(std::uint64_t min_us, std::uint64_t max_us) {
  const std::uint64_t now = nowNs();
  const std::uint64_t left_us = now < ctx_.deadline_ns ? (ctx_.deadline_ns - now) / 1000 : 0;
  std::this_thread::sleep_for(
      std::chrono::microseconds(std::min(uniform(min_us, max_us), left_us)));
}

}  // namespace spool::bench
