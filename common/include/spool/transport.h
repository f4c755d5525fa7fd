// The transport: loop threads, listeners and outgoing connections.
#pragma once

#include <sys/socket.h>  // SOMAXCONN
#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "spool/connection.h"
#include "spool/handler.h"
#include "spool/stats.h"
#include "spool/tls.h"

namespace spool {

/// Per-connection limits, set per listener or per outgoing connection.
struct ConnectionOptions {
  /// Send budget. A send is accepted while the backlog (accepted bytes not yet
  /// taken by the kernel) is below `send_high_watermark`, so the backlog can
  /// exceed it by at most the messages accepted at that moment; onWritable()
  /// fires once the backlog is back at `send_low_watermark`.
  std::size_t send_high_watermark = 1 << 20;
  std::size_t send_low_watermark = 256 << 10;
  /// While the backlog is at or above `send_high_watermark`, the connection
  /// is not read (onData() is not called and the socket is not read, so TCP
  /// pushes back on the peer) until the backlog falls to
  /// `send_low_watermark`. A server that queues work per request cannot then
  /// be flooded by a client that sends requests and never reads the
  /// replies. Counted in LoopStats::read_pauses_backlog. Independent of
  /// pauseReading(): reading resumes when neither holds it.
  ///
  /// On by default for accepted connections, off for outgoing ones
  /// (ConnectOptions): a client that held its replies while its requests
  /// wait would deadlock against a server that holds its requests while
  /// its replies wait. Turn it off on a server only for a protocol whose
  /// peer reads nothing until it has sent all of a large request while the
  /// server already answers, for the same reason.
  bool pause_reading_while_backlogged = true;
  /// Aborts the connection with kSendQueueStuck when its backlog is non-empty
  /// and not one byte of it was written for this long (a peer that stopped
  /// reading). Zero disables the check.
  std::chrono::milliseconds send_stuck_timeout{0};
  /// Closes the connection with kIdleTimeout when no byte was received or
  /// written for this long, whether or not its TLS handshake has completed.
  /// Zero disables the check.
  std::chrono::milliseconds idle_timeout{0};
  /// TLS only: aborts a connection whose handshake has not completed this
  /// long after it was accepted or connected, with kHandshakeTimeout
  /// (counted in LoopStats::tls_handshake_timeouts). Without it, a client
  /// that connects and says nothing holds a connection slot forever. Zero
  /// disables the check.
  std::chrono::milliseconds handshake_timeout{10'000};
  /// After a graceful close has flushed and shut the write side, how long to
  /// wait for the peer's EOF before closing the socket anyway.
  std::chrono::milliseconds linger_timeout{2000};
  /// Input bytes buffered before reading pauses (TCP then pushes back on the
  /// peer) until the handler consumes some; InputBuffer::wantBytes() raises
  /// it for one larger frame. Bounds memory per connection. Zero: no bound.
  std::size_t max_input_bytes = 64 << 20;
};

struct TransportOptions {
  std::string name = "spool";  ///< names the loop threads ("spool-0", ...) in logs
  unsigned loops = 0;          ///< loop threads; 0 means one per core
  /// Inbox nodes one drain callback handles before it lets the loop poll
  /// sockets again (it re-arms itself if more remain).
  std::size_t drain_batch = 1024;
  /// Payloads up to this size are copied into the connection's output
  /// blocks (and released at once); larger ones are referenced, zero-copy
  /// (with TLS, at least 16 KiB is copied: each contiguous run is one
  /// record). A referenced payload costs an iovec of its own in the kernel's
  /// sendmsg (and on folly an IOBuf node, a malloc and a free); copying a
  /// payload of a few KiB into shared blocks costs less than that (docs/benchmarks.md: 1 KiB
  /// messages went from 0.95-1.2 M to 1.4-2.0 M msgs/s raising this from 512).
  std::size_t copy_threshold = 2048;
  /// How long stop() lets connections flush before it aborts them.
  std::chrono::milliseconds stop_grace{2000};
  /// Accepted connections open at once, across all listeners and loops; a
  /// connection beyond it is accepted, sent ListenOptions::reject_message,
  /// closed, and counted in LoopStats::connections_rejected. Zero: no limit.
  /// Outgoing connections are not counted.
  std::size_t max_connections = 0;
};

struct ListenOptions {
  std::string host = "127.0.0.1";  ///< numeric IPv4/IPv6 address or a host name
  std::uint16_t port = 0;          ///< 0 picks a free port; see Listener::port()
  /// Non-empty: listen on a Unix domain stream socket at this path instead
  /// (host and port are ignored). A socket file nobody listens on (left by
  /// a crashed server) is replaced; a path a live server listens on fails
  /// with AddressInUseError, unlike memcached, which unlinks it
  /// unconditionally and so steals a running server's clients. The
  /// listener removes the file when it closes (if it is still its own).
  std::string unix_path;
  /// The socket file's permission bits (as memcached's -a), set before
  /// the socket starts listening, so no client connects under looser ones.
  unsigned unix_mode = 0700;
  /// The socket file's owner and group (unset: the process's), given to it
  /// before the mode, without following a symbolic link, and before the
  /// socket listens; changing them needs root, as chown(2) does. A server
  /// started as root that then becomes another user (spoold -u, as
  /// memcached's socket) gives the file to that user: it can then connect,
  /// and remove the file when the listener closes, even in a sticky
  /// directory such as /tmp.
  std::optional<uid_t> unix_uid;
  std::optional<gid_t> unix_gid;
  /// listen()'s backlog: by default the larger of memcached's 1024 and the
  /// system's SOMAXCONN (the kernel caps it at net.core.somaxconn), so a
  /// burst of connects is not dropped before the loops accept them.
  int backlog = SOMAXCONN > 1024 ? SOMAXCONN : 1024;
  ConnectionOptions connection;
  /// Written (best effort, without blocking) to a connection refused because
  /// of TransportOptions::max_connections, just before it is closed.
  std::string reject_message;
  /// TLS for every connection of this listener (one SSL context, built here).
  std::optional<TlsConfig> tls;
};

struct ConnectOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
  /// A client reads its replies whatever its own backlog (see
  /// ConnectionOptions::pause_reading_while_backlogged).
  ConnectionOptions connection{.pause_reading_while_backlogged = false};
  std::optional<TlsConfig> tls;  ///< TLS client settings; onOpen follows the handshake
};

/// A listening port (or Unix socket), served by every loop. Thread-safe.
///
/// Dropping the last ListenerPtr closes it, as close() does (on one of the
/// transport's loop threads it cannot wait: the loops then close their
/// sockets on their next turn).
class Listener {
 public:
  virtual ~Listener() = default;
  /// The bound TCP port; 0 for a Unix domain socket. Thread-safe.
  [[nodiscard]] virtual std::uint16_t port() const noexcept = 0;
  /// Builds a new server TLS context from `config` (reading its files now)
  /// and gives it to every connection accepted from here on; connections
  /// already open keep the context they were accepted with. For certificate
  /// rotation (memcached's refresh_certs).
  /// Thread-safe: any thread, a loop thread included (it does not wait for
  /// the loops, but it reads files, so it blocks for that long).
  /// @throws TlsFileError when a certificate, key or CA file cannot be
  /// loaded, SetupError for other bad settings, or when the listener was
  /// made without TLS; either way the current context stays in use.
  virtual void replaceTls(const TlsConfig& config) = 0;
  /// Stops accepting and frees the listening sockets; established
  /// connections stay. Blocks until every loop has closed its socket.
  /// Idempotent. Not on a loop thread: there it throws SetupError.
  virtual void close() = 0;
};
using ListenerPtr = std::shared_ptr<Listener>;

/// Owns N loop threads. Thread-safe unless noted. start(), stop(), listen()
/// and connect() wait for the loops, so they throw SetupError when called on
/// one of the transport's own loop threads (from a handler callback, say)
/// instead of deadlocking; destroying the transport there is fatal.
class Transport {
 public:
  /// Creates the transport of the backend chosen at configure time.
  static std::unique_ptr<Transport> create(const TransportOptions& options = {});
  /// The version of the libevent the backend runs on (both do: folly's
  /// EventBase is built on it), e.g. "2.1.12-stable": memcached's `stats`
  /// reports it as `libevent`.
  static const char* libeventVersion() noexcept;

  virtual ~Transport() = default;

  /// Starts the loop threads. Call once, before anything else.
  virtual void start() = 0;
  /// Stops accepting, closes every connection (gracefully, aborting those
  /// still flushing after `stop_grace`), joins the loop threads and frees
  /// every event-library object. Later sends return kClosed. Idempotent; must
  /// not be called on a loop thread.
  virtual void stop() = 0;

  /// Listens on host:port with one socket per loop (SO_REUSEPORT): the
  /// loops of this transport share the port, nobody else may. On a Unix
  /// socket (ListenOptions::unix_path), where SO_REUSEPORT does not exist,
  /// every loop watches the one non-blocking listening socket and accepts
  /// what it can; a loop that finds nothing to accept (another was faster)
  /// just waits again. Not on a loop thread.
  /// @throws AddressInUseError when another socket (another process or
  /// another Transport) holds the address, or a live server listens on the
  /// Unix path; SetupError when it cannot be resolved or bound (a Unix path
  /// that is not a socket file), or TLS cannot be set up.
  [[nodiscard]] virtual ListenerPtr listen(const ListenOptions& options,
                                           HandlerFactory factory) = 0;
  /// Starts an outgoing connection on the next loop (round robin) and
  /// returns without waiting for it; `handler->onOpen` runs when it is
  /// established (after the TLS handshake), `onClose` with kConnectFailed
  /// (or kTlsError) when it cannot be. Sends before that are queued.
  ///
  /// What runs on the calling thread: resolving `host` (instant for a
  /// numeric address; a name asks the system resolver and may block, so
  /// latency-sensitive threads should pass addresses), and with TLS, finding
  /// the client context for this TlsConfig: one context is built per
  /// distinct configuration (its files read once) and shared by every
  /// connection made with it while any of them lives. Not on a loop thread.
  /// @throws SetupError when the address cannot be resolved or TLS cannot be set up.
  [[nodiscard]] virtual ConnectionPtr connect(const ConnectOptions& options,
                                              HandlerPtr handler) = 0;

  /// Builds (and drops) a server TLS context from `config`: the checks
  /// listen() and Listener::replaceTls() make, for a program that must
  /// vouch for its TLS files without a TLS listener. Thread-safe; reads the
  /// files. @throws TlsFileError or SetupError, as listen() would.
  static void checkServerTls(const TlsConfig& config);

  [[nodiscard]] virtual unsigned loopCount() const noexcept = 0;
  [[nodiscard]] virtual std::vector<LoopStats> stats() const = 0;
};

}  // namespace spool
