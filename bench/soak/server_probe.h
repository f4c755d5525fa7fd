// One-shot requests the soak makes outside the load: readiness, `stats`,
// and the final verified set/get.
#pragma once

#include <cstdint>
#include <map>
#include <random>
#include <string>

#include "soak_conn.h"

namespace spool::bench {

using StatsMap = std::map<std::string, std::string, std::less<>>;

/// `stats` over a fresh connection. Empty (and `why` set) on failure.
StatsMap fetchStats(const SoakTarget& target, std::string& why);

/// Stores a fresh random value under `key` and reads it back over a fresh
/// connection, byte for byte. Empty when it worked, else what failed.
std::string verifiedSetGet(const SoakTarget& target, std::mt19937_64& rng, const std::string& key);

/// A stats field as a number (0 when absent).
std::uint64_t statNumber(const StatsMap& stats, std::string_view name);

}  // namespace spool::bench
