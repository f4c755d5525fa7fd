#include "server_probe.h"

#include "mc_ops.h"
#include "usage.h"

namespace spool::bench {

StatsMap fetchStats(const SoakTarget& target, std::string& why) {
  std::unique_ptr<SoakConn> conn;
  if (SoakConn::open(target, nowNs() + kStallNs, conn, why) != Opened::kOk) {
    return {};
  }
  const std::uint64_t deadline = nowNs() + kStallNs;
  std::string text;
  if (!conn->sendAll("stats\r\n", deadline)) {
    why = conn->error();
    return {};
  }
  char data[16 << 10];
  while (!text.ends_with("END\r\n")) {
    const long n = conn->readSome(data, sizeof(data), deadline);
    if (n <= 0) {
      why = "stats: " + (n == 0 ? std::string("closed") : conn->error());
      return {};
    }
    text.append(data, static_cast<std::size_t>(n));
  }
  StatsMap stats;
  for (std::size_t at = 0; text.compare(at, 5, "STAT ") == 0;) {
    const std::size_t eol = text.find("\r\n", at);
    const std::size_t space = text.find(' ', at + 5);
    stats[text.substr(at + 5, space - at - 5)] = text.substr(space + 1, eol - space - 1);
    at = eol + 2;
  }
  return stats;
}

std::string verifiedSetGet(const SoakTarget& target, std::mt19937_64& rng, const std::string& key) {
  std::unique_ptr<SoakConn> conn;
  std::string why;
  if (SoakConn::open(target, nowNs() + kStallNs, conn, why) != Opened::kOk) {
    return "cannot connect: " + why;
  }
  ReplyChecker checker;
  Batch batch{{}, &checker};
  const Stored stored{42, randomValue(rng, 4096)};
  addSet(batch, Dialect::kText, key, stored);
  addGet(batch, Dialect::kText, key, stored);
  switch (conn->exchange(batch.out, checker, 0, nowNs() + kStallNs)) {
    case Exchanged::kDone: return {};
    case Exchanged::kMismatch: return checker.mismatch();
    default: return conn->error();
  }
}

std::uint64_t statNumber(const StatsMap& stats, std::string_view name) {
  const auto it = stats.find(name);
  return it == stats.end() ? 0 : std::strtoull(it->second.c_str(), nullptr, 10);
}

}  // namespace spool::bench
