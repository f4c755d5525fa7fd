#include "soak_tally.h"

#include <numeric>

namespace spool::bench {
namespace {

// Enough to diagnose; a broken server would otherwise print thousands.
constexpr std::size_t kMaxProblems = 10;

}  // namespace

const char* faultName(Fault fault) noexcept {
  switch (fault) {
    case Fault::kKilledMidRequest: return "killed_mid_request";
    case Fault::kKilledMidResponse: return "killed_mid_response";
    case Fault::kHalfOpenSilent: return "half_open_silent";
    case Fault::kHalfOpenPartial: return "half_open_partial";
    case Fault::kHalfClose: return "half_close";
    case Fault::kGarbageRandom: return "garbage_random";
    case Fault::kGarbageBinary: return "garbage_binary_header";
    case Fault::kSlowReader: return "slow_reader";
    case Fault::kSlowReaderAbandoned: return "slow_reader_abandoned";
    case Fault::kChurnBurst: return "churn_burst";
    case Fault::kChurnRejected: return "churn_rejected";
    case Fault::kMetadump: return "metadump";
    case Fault::kMetadumpAborted: return "metadump_aborted";
    case Fault::kFloodUnread: return "never_reading_pipeliner";
    case Fault::kDeepPipeline: return "deep_pipeline";
    case Fault::kCount: break;
  }
  return "?";
}

std::uint64_t TallySnapshot::faultTotal() const noexcept {
  // Bursts are counted by their rejected connections, not twice.
  return std::accumulate(faults.begin(), faults.end(), std::uint64_t{0}) -
         fault(Fault::kChurnBurst);
}

void SoakTally::mismatch(const std::string& who, const std::string& what) {
  mismatches_.fetch_add(1, std::memory_order_relaxed);
  record("mismatch: " + who + ": " + what);
}

void SoakTally::failure(const std::string& who, const std::string& what) {
  failures_.fetch_add(1, std::memory_order_relaxed);
  record("failure: " + who + ": " + what);
}

void SoakTally::record(const std::string& line) {
  std::lock_guard lock(mutex_);
  if (problems_.size() < kMaxProblems) {
    problems_.push_back(line);
  }
}

TallySnapshot SoakTally::snapshot() const {
  TallySnapshot s;
  s.requests = requests_.load(std::memory_order_relaxed);
  s.verified = verified_.load(std::memory_order_relaxed);
  s.mismatches = mismatches_.load(std::memory_order_relaxed);
  s.failures = failures_.load(std::memory_order_relaxed);
  s.refused = refused_.load(std::memory_order_relaxed);
  s.metadump_busy = metadump_busy_.load(std::memory_order_relaxed);
  for (std::size_t i = 0; i < s.faults.size(); ++i) {
    s.faults[i] = faults_[i].load(std::memory_order_relaxed);
  }
  std::lock_guard lock(mutex_);
  s.problems = problems_;
  return s;
}

}  // namespace spool::bench
