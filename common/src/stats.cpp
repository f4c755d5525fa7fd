#include "spool/stats.h"

#include <algorithm>

namespace spool {
namespace {
constexpr std::uint64_t sum(std::uint64_t a, std::uint64_t b) noexcept { return a + b; }
constexpr std::uint64_t max(std::uint64_t a, std::uint64_t b) noexcept { return std::max(a, b); }
}  // namespace

LoopStats& LoopStats::operator+=(const LoopStats& o) noexcept {
#define SPOOL_LOOP_STATS_MERGE(name, combine) name = combine(name, o.name);
  SPOOL_LOOP_STATS(SPOOL_LOOP_STATS_MERGE)
#undef SPOOL_LOOP_STATS_MERGE
  return *this;
}

LoopStats total(const std::vector<LoopStats>& loops) noexcept {
  LoopStats sum;
  for (const auto& loop : loops) {
    sum += loop;
  }
  return sum;
}

}  // namespace spool
