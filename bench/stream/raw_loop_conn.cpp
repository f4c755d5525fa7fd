#include "raw_loop_conn.h"

#include <openssl/err.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <stdexcept>

#include "frame.h"
#include "usage.h"

namespace spool::bench {
namespace {

// Plain TCP: a batch is encoded while the buffer holds less than this (and
// less than the window). Large enough that a send() moves a lot per call,
// small enough to stay in the cache between encoding and the kernel's copy.
constexpr std::size_t kRawBatchBytes = 256 << 10;
// Bytes one connection may write per readiness event before the loop turns
// to the others (it comes back on the next turn: the socket is still
// writable and its write event still added).
constexpr std::size_t kShareBytes = 1 << 20;
// The largest TLS record's plaintext: what one SSL_write of a batch encrypts.
constexpr std::size_t kTlsRecordBytes = 16 << 10;
// SSL_read calls of discarded input per readiness event.
constexpr int kTlsReadsPerEvent = 4;

std::string opensslErrors() {
  std::string out;
  while (const unsigned long e = ERR_get_error()) {
    char line[256];
    ERR_error_string_n(e, line, sizeof(line));
    out += out.empty() ? "" : "; ";
    out += line;
  }
  return out.empty() ? "unknown OpenSSL error" : out;
}

}  // namespace

RawSslCtxPtr makeRawTlsContext(const std::string& cert_file, const std::string& key_file) {
  RawSslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  if (!ctx) {
    throw std::runtime_error("SSL_CTX_new: " + opensslErrors());
  }
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  SSL_CTX_set_max_proto_version(ctx.get(), TLS1_3_VERSION);
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), cert_file.c_str()) != 1) {
    throw std::runtime_error("cannot load the certificate chain " + cert_file + ": " + opensslErrors());
  }
  if (SSL_CTX_use_PrivateKey_file(ctx.get(), key_file.c_str(), SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(ctx.get()) != 1) {
    throw std::runtime_error("cannot use the private key " + key_file + ": " + opensslErrors());
  }
  SSL_CTX_set_options(ctx.get(),
                      SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_IGNORE_UNEXPECTED_EOF);
  // Unlike spool, no SSL_MODE_RELEASE_BUFFERS: the upper bound keeps
  // OpenSSL's record buffer from one SSL_write to the next.
  return ctx;
}

// ---------------------------------------------------------------------------
// Plain TCP

RawConn::RawConn(event_base* base, int fd, SlotRegistry& registry, EvLoopCounters& counters,
                 const StreamConfig& config)
    : EvConn(base, fd, registry, counters),
      size_(config.msg_size),
      // At most a window's bytes wait in user space: a batch grows while
      // under the high watermark, so it ends at most msg_size - 1 past it.
      batch_(std::min(kRawBatchBytes, config.highWatermark())),
      buffer_(std::make_unique<std::byte[]>(batch_ + size_)) {}

void RawConn::fill() noexcept {
  head_ = 0;
  tail_ = 0;
  do {
    encodeMessage(buffer_.get() + tail_, size_, nowNs(), next_seq++);
    tail_ += size_;
    ++counters_.frames;
  } while (tail_ < batch_);
}

void RawConn::pump() noexcept {
  std::size_t share = kShareBytes;
  for (;;) {
    if (head_ == tail_) {
      if (share == 0) {
        watch(true);  // still writable: back on the next turn, after the others
        return;
      }
      fill();
    }
    const ssize_t n = ::send(fd(), buffer_.get() + head_, tail_ - head_, MSG_NOSIGNAL | MSG_DONTWAIT);
    ++counters_.write_calls;
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        ++counters_.write_refusals;
        watch(true);
        return;
      }
      close();
      return;
    }
    const auto written = static_cast<std::size_t>(n);
    head_ += written;
    counters_.bytes_out += written;
    share -= std::min(share, written);
    if (head_ < tail_) {
      ++counters_.write_refusals;  // the kernel is full: wait for room
      watch(true);
      return;
    }
  }
}

// ---------------------------------------------------------------------------
// TLS

RawTlsConn::RawTlsConn(event_base* base, int fd, SlotRegistry& registry, EvLoopCounters& counters,
                       const StreamConfig& config, SSL_CTX* ctx)
    : EvConn(base, fd, registry, counters),
      size_(config.msg_size),
      batch_(std::max(size_, std::min(kTlsRecordBytes, config.window))),
      ssl_(SSL_new(ctx)),
      plain_(std::make_unique<std::byte[]>(batch_)) {}

void RawTlsConn::begin() noexcept {
  // The SSL reads and writes the socket itself (a socket BIO that does not
  // close it: release() does).
  if (!ssl_ || SSL_set_fd(ssl_.get(), fd()) != 1) {
    ++counters_.tls_failures;
    fail();
    return;
  }
  SSL_set_accept_state(ssl_.get());
  handshake();
}

void RawTlsConn::handshake() noexcept {
  const int r = SSL_do_handshake(ssl_.get());
  if (r == 1) {
    handshaken_ = true;
    ++counters_.tls_handshakes;
    pump();
    return;
  }
  switch (SSL_get_error(ssl_.get(), r)) {
    case SSL_ERROR_WANT_READ: watch(false); return;
    case SSL_ERROR_WANT_WRITE: watch(true); return;
    default:
      ++counters_.tls_failures;
      fail();
  }
}

void RawTlsConn::onReadable() noexcept {
  if (!handshaken_) {
    handshake();
    return;
  }
  char discard[kTlsRecordBytes];
  for (int i = 0; i < kTlsReadsPerEvent; ++i) {
    const int r = SSL_read(ssl_.get(), discard, sizeof(discard));
    if (r > 0) {
      continue;
    }
    const int error = SSL_get_error(ssl_.get(), r);
    if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) {
      break;
    }
    fail();  // close_notify, a FIN, a reset or a TLS error: the client is gone
    return;
  }
  if (write_wants_read_) {
    pump();
  }
}

void RawTlsConn::onWritable() noexcept {
  if (handshaken_) {
    pump();
  } else {
    handshake();
  }
}

void RawTlsConn::pump() noexcept {
  write_wants_read_ = false;
  std::size_t share = kShareBytes;
  for (;;) {
    if (plain_len_ == 0) {
      if (share == 0) {
        watch(true);  // still writable: back on the next turn, after the others
        return;
      }
      do {
        encodeMessage(plain_.get() + plain_len_, size_, nowNs(), next_seq++);
        plain_len_ += size_;
        ++counters_.frames;
      } while (plain_len_ + size_ <= batch_);
    }
    const int r = SSL_write(ssl_.get(), plain_.get(), static_cast<int>(plain_len_));
    ++counters_.write_calls;
    if (r > 0) {
      // Without SSL_MODE_ENABLE_PARTIAL_WRITE, all of it.
      counters_.bytes_out += static_cast<std::uint64_t>(r);
      share -= std::min(share, static_cast<std::size_t>(r));
      plain_len_ = 0;
      continue;
    }
    switch (SSL_get_error(ssl_.get(), r)) {
      case SSL_ERROR_WANT_WRITE:
        // The socket is full. OpenSSL keeps the record it made; the same
        // batch (same pointer and length) finishes it once writable.
        ++counters_.write_refusals;
        watch(true);
        return;
      case SSL_ERROR_WANT_READ:
        write_wants_read_ = true;
        watch(false);
        return;
      default:
        fail();
        return;
    }
  }
}

void RawTlsConn::fail() noexcept {
  ERR_clear_error();
  close();
}

}  // namespace spool::bench
