// stream_client's reading side: one thread drives its share of the
// connections (TLS handshake, reads, frame checks) with epoll.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "client_channel.h"
#include "frame_checker.h"

namespace spool::bench {

/// One connection to the stream server. Owned by one reader thread.
struct ClientConn {
  std::unique_ptr<ClientChannel> channel;
  FrameChecker checker;
  bool handshaken = false;  ///< TLS done (plain: from the first step)
  bool open = true;
  bool queued = false;      ///< in the reader's list of TLS-buffered connections
  std::uint32_t armed = 0;  ///< the epoll events registered for it
};

/// What one reader thread saw.
struct ReaderTally {
  StreamTally stream;
  std::uint64_t closed_early = 0;  ///< EOF or I/O error before the end
  std::uint64_t tls_failures = 0;  ///< handshakes that failed
  std::string first_error;
};

/// Reads `conns` until `end_ns`, counting frames that arrive from
/// `measure_from` on. `reads_per_wake` bounds the reads of one connection
/// per readiness event, to keep the connections fair to one another.
void readStreams(const std::vector<ClientConn*>& conns, unsigned reads_per_wake,
                 std::uint64_t measure_from, std::uint64_t end_ns, ReaderTally& tally);

}  // namespace spool::bench
