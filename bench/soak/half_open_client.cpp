// Half-open sockets: connections that send nothing, or half a command (or
// half a TLS record) and then nothing, held for a while and dropped; and
// half-closed ones, whose replies must still arrive after the client's FIN.
#include <vector>

#include "soak_client.h"
#include "usage.h"

namespace spool::bench {
namespace {

// Held at once: well under -c, so the other clients keep their slots.
constexpr std::size_t kMaxHeld = 8;
constexpr unsigned kHalfCloseKeys = 64;

class HalfOpenClient final : ClientBase {
 public:
  HalfOpenClient(const ClientContext& ctx, unsigned id) : ClientBase(ctx, "half-open-", id) {}

  void run() {
    bool ok = true;
    while (ok && running()) {
      if (held_.size() < kMaxHeld) {
        ok = openOne();
      }
      release(nowNs());
      pace(2'000, 10'000);
    }
    release(UINT64_MAX);
  }

 private:
  struct Held {
    std::unique_ptr<SoakConn> conn;
    std::uint64_t until_ns;
  };

  bool openOne() {
    const std::uint64_t dice = uniform(0, 99);
    if (dice < 35) {
      return hold(openConn({.tls = false, .probe = false}), "", Fault::kHalfOpenSilent);
    }
    if (dice < 60) {
      return hold(openConn(), partialCommand(), Fault::kHalfOpenPartial);
    }
    if (dice < 75) {
      return hold(openConn({.tls = false, .probe = false}), partialFirstBytes(),
                  Fault::kHalfOpenPartial);
    }
    return halfClose();
  }

  /// Keeps `conn` open for 0.1-1.5 s after sending `bytes`.
  bool hold(std::unique_ptr<SoakConn> conn, const std::string& bytes, Fault fault) {
    if (!conn) {
      return !running();  // null while running: a failure, already recorded
    }
    conn->sendAll(bytes, nowNs() + kStallNs);  // a server that closed on it is fine
    held_.push_back({std::move(conn), nowNs() + uniform(100, 1500) * 1'000'000});
    tally_.fault(fault);
    return true;
  }

  void release(std::uint64_t now) {
    std::erase_if(held_, [&](Held& h) {
      if (h.until_ns > now) {
        return false;
      }
      if (chance(0.3)) {
        SoakConn::abortWithReset(std::move(h.conn));
      }
      return true;
    });
  }

  /// After a `version` probe: the text protocol, cut mid-command.
  std::string partialCommand() {
    const std::string key = "soak:h:" + std::to_string(uniform(0, 999));
    switch (uniform(0, 3)) {
      case 0: return "set " + key + " 0 0 100\r\n" + std::string(40, 'h');
      case 1: return "get " + key;
      case 2: return "ms " + key + " 64 T0\r\n" + std::string(10, 'h');
      default: return "gets " + std::string(300, 'k');  // an over-long key, never ended
    }
  }

  /// The first bytes of a connection, cut short: a binary header, or a TLS
  /// ClientHello record announcing 200 bytes and sending 31.
  std::string partialFirstBytes() {
    if (ctx_.target.tls != nullptr) {
      std::string hello("\x16\x03\x01\x00\xc8\x01\x00\x00\xc4\x03\x03", 11);
      return hello + *randomValue(rng_, 20);
    }
    std::string header(24, '\0');
    header[0] = static_cast<char>(0x80);  // request magic; opcode 0 (get)
    header[3] = 8;                        // key length
    header[11] = 8;                       // body length
    return header.substr(0, uniform(1, 23));
  }

  /// Complete commands, then FIN: the replies must still come, then the
  /// server's close (spoold keeps the write side open after a client's
  /// EOF). Over TLS a FIN without close_notify may end the session at once:
  /// there only the close is required, and whatever arrives is still checked.
  bool halfClose() {
    std::unique_ptr<SoakConn> conn = openConn();
    if (!conn) {
      return !running();
    }
    const std::string key = "soak:hc:" + std::to_string(uniform(0, kHalfCloseKeys - 1));
    Batch batch{{}, &checker_};
    const Stored hello{0, std::make_shared<const std::string>("hello")};
    addSet(batch, Dialect::kText, key, hello);
    addGet(batch, Dialect::kText, key, hello);
    tally_.requests(batch.requests);
    tally_.fault(Fault::kHalfClose);
    const bool ok = repliesAfterFin(*conn, batch.out);
    checker_.reset();
    return ok;
  }

  bool repliesAfterFin(SoakConn& conn, const std::string& requests) {
    const std::uint64_t deadline = nowNs() + kStallNs;
    if (!conn.sendAll(requests, deadline)) {
      return settle(Exchanged::kError, conn, checker_, "half-close: writing");
    }
    conn.shutdownWrite();
    Exchanged result = conn.exchange("", checker_, 0, deadline);
    if (ctx_.target.tls != nullptr &&
        (result == Exchanged::kClosed || result == Exchanged::kError)) {
      // A FIN without close_notify is a truncation to TLS: OpenSSL answers
      // it with a decode_error alert, possibly before the replies. What did
      // arrive matched (settle counts it).
      result = Exchanged::kDone;
    }
    if (!settle(result, conn, checker_, "half-close: replies after FIN")) {
      return false;
    }
    if (!conn.drainUntilClosed(deadline)) {
      tally_.failure(name_, "half-close: the server did not close after answering");
      return false;
    }
    return true;
  }

  std::vector<Held> held_;
};

}  // namespace

void runHalfOpenClient(const ClientContext& ctx, unsigned id) {
  HalfOpenClient(ctx, id).run();
}

}  // namespace spool::bench
