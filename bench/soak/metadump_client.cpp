// Periodic `lru_crawler metadump all` while everything else runs. Every
// line must have memcached's shape, the client's own sentinel key must be
// listed, and the connection must answer a get after END. Some dumps are
// cut with a reset half way, while the crawler is still sending.
#include <algorithm>
#include <array>
#include <optional>

#include "soak_client.h"
#include "usage.h"

namespace spool::bench {
namespace {

constexpr std::string_view kSentinelKey = "soak:m:sentinel";
constexpr std::string_view kSentinelLine =
    "key=soak%3Am%3Asentinel ";  // as metadump URI-encodes it
constexpr std::array<std::string_view, 6> kFields = {
    " exp=", " la=", " cas=", " fetch=", " cls=", " size="};

class MetadumpClient final : ClientBase {
 public:
  MetadumpClient(const ClientContext& ctx, unsigned id)
      : ClientBase(ctx, "metadump-", id),
        sentinel_(Stored{0, std::make_shared<const std::string>("m")}) {}

  void run() {
    std::unique_ptr<SoakConn> conn = openConn();
    Batch batch{{}, &checker_};
    addSet(batch, Dialect::kText, kSentinelKey, *sentinel_);
    if (!conn || !runBatch(*conn, batch, "storing the sentinel")) {
      return;
    }
    conn.reset();
    while (running()) {
      conn = openConn();
      if (!conn || !dumpOnce(std::move(conn))) {
        return;
      }
      pace(200'000, 600'000);
    }
  }

 private:
  enum class Dump : std::uint8_t { kComplete, kBusy, kAborted, kBroken };

  bool dumpOnce(std::unique_ptr<SoakConn> conn) {
    tally_.requests(1);
    // Cut somewhere inside a dump the size of the last one.
    const std::size_t abort_after = chance(0.25) ? uniform(1, last_size_) : SIZE_MAX;
    if (!conn->sendAll("lru_crawler metadump all\r\n", nowNs() + kStallNs)) {
      return settle(Exchanged::kError, *conn, checker_, "metadump: writing");
    }
    switch (readDump(*conn, abort_after)) {
      case Dump::kAborted:
        SoakConn::abortWithReset(std::move(conn));
        tally_.fault(Fault::kMetadumpAborted);
        return true;
      case Dump::kBroken: return false;
      case Dump::kBusy: tally_.metadumpBusy(); break;
      case Dump::kComplete: tally_.fault(Fault::kMetadump); break;
    }
    tally_.verified(1);
    Batch batch{{}, &checker_};
    addGet(batch, Dialect::kText, kSentinelKey, sentinel_);
    return runBatch(*conn, batch, "a get after metadump");
  }

  /// Reads lines up to END (or BUSY), checking each.
  Dump readDump(SoakConn& conn, std::size_t abort_after) {
    std::string pending;
    std::size_t total = 0;
    bool sentinel_seen = false;
    char data[64 << 10];
    for (;;) {
      const long n = conn.readSome(data, sizeof(data), nowNs() + kStallNs);
      if (n <= 0) {
        tally_.failure(name_,
                       "metadump: " + (n == 0 ? std::string("closed before END") : conn.error()));
        return Dump::kBroken;
      }
      total += static_cast<std::size_t>(n);
      last_size_ = std::max(last_size_, total);
      pending.append(data, static_cast<std::size_t>(n));
      if (const std::optional<Dump> end = scanLines(pending, sentinel_seen)) {
        return *end;
      }
      if (total >= abort_after) {
        return Dump::kAborted;
      }
    }
  }

  /// Checks the complete lines in `pending` and drops them; a result once
  /// the last line (END or BUSY) or a malformed one is seen.
  std::optional<Dump> scanLines(std::string& pending, bool& sentinel_seen) {
    std::size_t start = 0;
    for (std::size_t eol; (eol = pending.find('\n', start)) != std::string::npos; start = eol + 1) {
      const std::string_view line(pending.data() + start, eol - start);
      if (line == "END\r" || line.starts_with("BUSY ")) {
        return finish(line, sentinel_seen, eol + 1 == pending.size());
      }
      if (!wellFormed(line)) {
        tally_.mismatch(name_, "metadump line \"" + printable(line) + "\"");
        return Dump::kBroken;
      }
      sentinel_seen = sentinel_seen || line.starts_with(kSentinelLine);
    }
    pending.erase(0, start);
    return std::nullopt;
  }

  Dump finish(std::string_view line, bool sentinel_seen, bool nothing_after) {
    if (!nothing_after) {
      tally_.mismatch(name_, "metadump: bytes after its last line");
      return Dump::kBroken;
    }
    if (line.starts_with("BUSY ")) {
      if (line == "BUSY currently processing crawler request\r") {
        return Dump::kBusy;
      }
      tally_.mismatch(name_, "metadump answered \"" + printable(line) + "\"");
      return Dump::kBroken;
    }
    if (!sentinel_seen) {
      tally_.mismatch(name_, "metadump did not list " + std::string(kSentinelKey));
      return Dump::kBroken;
    }
    return Dump::kComplete;
  }

  static bool wellFormed(std::string_view line) {
    if (!line.starts_with("key=")) {
      return false;
    }
    std::size_t at = 0;
    for (const std::string_view field : kFields) {
      at = line.find(field, at);
      if (at == std::string_view::npos) {
        return false;
      }
    }
    return true;
  }

  const Slot sentinel_;
  std::size_t last_size_ = 1;  // bytes of the largest dump read so far
};

}  // namespace

void runMetadumpClient(const ClientContext& ctx, unsigned id) {
  MetadumpClient(ctx, id).run();
}

}  // namespace spool::bench
