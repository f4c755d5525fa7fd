// Connection churn past -c: bursts of more connections than the server
// admits. Each one beyond the limit must get exactly the reject message,
// then the server's close; the admitted ones (which send nothing) hear
// nothing. Then all of them close, half with a reset.
#include <poll.h>

#include <optional>
#include <vector>

#include "soak_client.h"
#include "usage.h"

namespace spool::bench {
namespace {

constexpr std::string_view kRejectMessage = "ERROR Too many open connections\r\n";
constexpr unsigned kOverLimit = 16;  // connections per burst beyond -c

class ChurnClient final : ClientBase {
 public:
  ChurnClient(const ClientContext& ctx, unsigned id) : ClientBase(ctx, "churn-", id) {}

  void run() {
    while (running()) {
      if (!burst()) {
        return;
      }
      pace(100'000, 400'000);
    }
  }

 private:
  struct Probe {
    std::unique_ptr<SoakConn> conn;
    std::string received;
    bool closed = false;
  };

  bool burst() {
    std::vector<Probe> probes;
    for (unsigned i = 0; i < ctx_.max_connections + kOverLimit; ++i) {
      // Plain TCP even on a TLS port: the refusal is written before any handshake.
      std::unique_ptr<SoakConn> conn = openConn({.tls = false, .probe = false});
      if (!conn) {
        return !running();
      }
      probes.push_back({std::move(conn), {}, false});
    }
    const std::optional<std::uint64_t> refusals = awaitRejections(probes);
    if (!refusals) {
      return false;  // a wrong byte, already recorded
    }
    const std::uint64_t rejected = *refusals;
    tally_.fault(Fault::kChurnBurst);
    tally_.fault(Fault::kChurnRejected, rejected);
    if (rejected < kOverLimit) {
      tally_.failure(name_, "connection limit not enforced: " + std::to_string(rejected) + " of " +
                                std::to_string(probes.size()) + " connections rejected at -c " +
                                std::to_string(ctx_.max_connections));
      return false;
    }
    pace(0, 100'000);  // hold the slots a little: other clients meet the limit too
    for (Probe& p : probes) {
      if (chance(0.5)) {
        SoakConn::abortWithReset(std::move(p.conn));
      }
    }
    return true;
  }

  /// Reads the probes until at least kOverLimit have been refused (at most
  /// -c can be admitted), within the stall bound. Returns how many were;
  /// nothing when one received something else.
  std::optional<std::uint64_t> awaitRejections(std::vector<Probe>& probes) {
    const std::uint64_t deadline = nowNs() + kStallNs;
    std::uint64_t rejected = 0;
    while (rejected < kOverLimit && nowNs() < deadline) {
      std::vector<pollfd> fds;
      for (const Probe& p : probes) {
        fds.push_back({p.conn->fd(), static_cast<short>(p.closed ? 0 : POLLIN), 0});
      }
      ::poll(fds.data(), fds.size(), 100);
      for (std::size_t i = 0; i < probes.size(); ++i) {
        if (fds[i].revents != 0 && !readProbe(probes[i], rejected)) {
          return std::nullopt;
        }
      }
    }
    return rejected;
  }

  /// False when a probe received something other than the refusal.
  bool readProbe(Probe& p, std::uint64_t& rejected) {
    char data[256];
    const long n = p.conn->readSome(data, sizeof(data), 0);
    if (n > 0) {
      p.received.append(data, static_cast<std::size_t>(n));
      if (!kRejectMessage.starts_with(p.received)) {
        tally_.mismatch(name_, "a connection beyond -c received \"" + printable(p.received) + "\"");
        return false;
      }
    } else if (n == 0 || n == kFailed) {
      p.closed = true;
      if (p.received != kRejectMessage) {
        tally_.mismatch(name_, "a connection beyond -c was closed after \"" +
                                   printable(p.received) + "\" instead of the reject message");
        return false;
      }
      ++rejected;
    }
    return true;
  }
};

}  // namespace

void runChurnClient(const ClientContext& ctx, unsigned id) {
  ChurnClient(ctx, id).run();
}

}  // namespace spool::bench
