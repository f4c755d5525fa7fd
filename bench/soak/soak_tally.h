// What the soak's clients counted: requests, verified replies, faults
// injected by kind, and every problem the server showed.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace spool::bench {

/// The faults the soak injects; one counter each.
enum class Fault : std::uint8_t {
  kKilledMidRequest,     ///< RST after writing part of a pipeline (possibly mid-command)
  kKilledMidResponse,    ///< RST while the server was still sending replies
  kHalfOpenSilent,       ///< connected, sent nothing (no TLS handshake either), closed later
  kHalfOpenPartial,      ///< sent half a command (or half a TLS record), then nothing
  kHalfClose,            ///< sent complete commands then shut down the write side
  kGarbageRandom,        ///< random bytes
  kGarbageBinary,        ///< malformed binary protocol headers
  kSlowReader,           ///< pipelined large gets, read slowly to the end
  kSlowReaderAbandoned,  ///< the same, closed before reading everything
  kChurnBurst,           ///< opened more connections than -c at once
  kChurnRejected,        ///< a connection of a burst turned away with the reject message
  kMetadump,             ///< a complete lru_crawler metadump all
  kMetadumpAborted,      ///< RST in the middle of a metadump
  kFloodUnread,          ///< gets of a large value written until the server stopped reading, then RST
  kDeepPipeline,         ///< tens of thousands of sets pipelined, every reply read and verified
  kCount
};

const char* faultName(Fault fault) noexcept;

/// A plain copy of the counters.
struct TallySnapshot {
  std::uint64_t requests = 0;    ///< commands sent
  std::uint64_t verified = 0;    ///< replies received complete and compared byte for byte
  std::uint64_t mismatches = 0;  ///< replies that differed from what was stored
  std::uint64_t failures = 0;    ///< other server misbehaviour (stall, dropped connection, ...)
  std::uint64_t refused = 0;  ///< client opens turned away at -c (expected while churn holds slots)
  std::uint64_t metadump_busy = 0;
  std::array<std::uint64_t, static_cast<std::size_t>(Fault::kCount)> faults{};
  std::vector<std::string> problems;  ///< the first few mismatches and failures, described

  [[nodiscard]] std::uint64_t faultTotal() const noexcept;
  [[nodiscard]] std::uint64_t fault(Fault f) const noexcept {
    return faults[static_cast<std::size_t>(f)];
  }
};

/// Thread-safe: every client thread counts into one tally; relaxed counters
/// (read only after the threads are joined), problems under a mutex.
class SoakTally {
 public:
  void requests(std::uint64_t n) noexcept { requests_.fetch_add(n, std::memory_order_relaxed); }
  void verified(std::uint64_t n) noexcept { verified_.fetch_add(n, std::memory_order_relaxed); }
  void refused() noexcept { refused_.fetch_add(1, std::memory_order_relaxed); }
  void metadumpBusy() noexcept { metadump_busy_.fetch_add(1, std::memory_order_relaxed); }
  void fault(Fault f, std::uint64_t n = 1) noexcept {
    faults_[static_cast<std::size_t>(f)].fetch_add(n, std::memory_order_relaxed);
  }
  /// A reply that differed from what was stored.
  void mismatch(const std::string& who, const std::string& what);
  /// Anything else the server should not have done.
  void failure(const std::string& who, const std::string& what);

  [[nodiscard]] TallySnapshot snapshot() const;

 private:
  void record(const std::string& line);

  std::atomic<std::uint64_t> requests_{0};
  std::atomic<std::uint64_t> verified_{0};
  std::atomic<std::uint64_t> mismatches_{0};
  std::atomic<std::uint64_t> failures_{0};
  std::atomic<std::uint64_t> refused_{0};
  std::atomic<std::uint64_t> metadump_busy_{0};
  std::array<std::atomic<std::uint64_t>, static_cast<std::size_t>(Fault::kCount)> faults_{};
  mutable std::mutex mutex_;
  std::vector<std::string> problems_;
};

}  // namespace spool::bench
