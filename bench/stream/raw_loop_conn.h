// The `raw-loop` mode's connections: the upper bound spool's stream is held
// to. No producers and no handoff: the loop thread encodes each frame
// straight into the buffer it writes from, right before writing it, over
// plain TCP (RawConn) or over TLS (RawTlsConn, OpenSSL on the socket).
#pragma once

#include <openssl/ssl.h>

#include <memory>
#include <string>

#include "c_deleter.h"
#include "ev_conn.h"
#include "stream_slot.h"

namespace spool::bench {

using RawSslCtxPtr = std::unique_ptr<SSL_CTX, CDeleter<&SSL_CTX_free>>;
using RawSslPtr = std::unique_ptr<SSL, CDeleter<&SSL_free>>;

/// The server context of `raw-loop` over TLS, with the options spool's own
/// TlsContext sets (TLS 1.2 to 1.3, no renegotiation, the server's cipher
/// preference, a FIN without close_notify is an EOF). Throws
/// std::runtime_error when the certificate or the key will not load.
RawSslCtxPtr makeRawTlsContext(const std::string& cert_file, const std::string& key_file);

/// Plain TCP. On every writable event: encode a batch of frames (at most
/// the window, at most kRawBatchBytes) into one contiguous buffer, send()
/// it, and again, until the kernel refuses or the connection has had its
/// share of this loop turn; the unsent rest of a batch goes first next time.
/// The bytes are written while still in the cache that encoded them, and
/// never more than a batch waits in user space.
class RawConn final : public EvConn {
 public:
  RawConn(event_base* base, int fd, SlotRegistry& registry, EvLoopCounters& counters,
          const StreamConfig& config);

  void begin() noexcept override { pump(); }

 private:
  void onWritable() noexcept override { pump(); }
  void pump() noexcept;
  void fill() noexcept;

  const std::size_t size_;   // bytes per frame
  const std::size_t batch_;  // a batch is encoded while the buffer holds less than this
  std::unique_ptr<std::byte[]> buffer_;
  std::size_t head_ = 0;  // sent up to here
  std::size_t tail_ = 0;  // encoded up to here
};

/// TLS on the socket: SSL_set_fd (OpenSSL's socket BIO), handshake driven
/// non-blocking from the connection's event, then on every writable event
/// SSL_write of a batch of frames encoded on the loop: as many whole frames
/// as fit in one 16 KiB record (one frame when a frame is larger), until
/// OpenSSL says the socket is full (SSL_ERROR_WANT_WRITE: the same batch is
/// written again once it is writable) or the connection has had its share
/// of this loop turn.
class RawTlsConn final : public EvConn {
 public:
  RawTlsConn(event_base* base, int fd, SlotRegistry& registry, EvLoopCounters& counters,
             const StreamConfig& config, SSL_CTX* ctx);

  void begin() noexcept override;

 private:
  void onReadable() noexcept override;
  void onWritable() noexcept override;
  void handshake() noexcept;
  void pump() noexcept;
  /// Closes after an OpenSSL failure, clearing the thread's error queue (it
  /// would otherwise answer for the next connection's SSL_get_error).
  void fail() noexcept;

  const std::size_t size_;
  const std::size_t batch_;  // plaintext per SSL_write
  RawSslPtr ssl_;
  std::unique_ptr<std::byte[]> plain_;
  std::size_t plain_len_ = 0;  // a batch not yet taken by SSL_write
  bool handshaken_ = false;
  bool write_wants_read_ = false;  // SSL_write asked for input (a key update): resume on readable
};

}  // namespace spool::bench
