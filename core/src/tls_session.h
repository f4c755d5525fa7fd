// OpenSSL over one socket, run by core: what OpenSSL reads comes straight
// from the socket, what it writes goes into an OutputQueue of ciphertext.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <string>

#include "output_queue.h"
#include "ssl_handles.h"

namespace spool::core {

/// One connection's TLS. Loop thread only.
///
/// The SSL talks to a BIO of ours: its reads are recv() on the socket (with
/// read-ahead on, one recv takes as many records as the kernel holds), its
/// writes append to cipher(), which the connection writes with its other
/// output (one sendmsg per batch, not one write per record). So SSL_write
/// never blocks and never fails for want of socket space.
class TlsSession {
 public:
  enum class Status : std::uint8_t {
    kOk,        // progress (handshake done, bytes read)
    kWantRead,  // wait for the socket to be readable
    kEof,       // the peer closed (close_notify, or a FIN without one)
    kError,     // TLS or socket failure: errors() says which
  };

  /// `fd`: the connected socket. `server`: accept rather than connect.
  TlsSession(SslPtr ssl, int fd, bool server) noexcept;
  ~TlsSession();
  TlsSession(const TlsSession&) = delete;
  TlsSession& operator=(const TlsSession&) = delete;

  /// Makes the BIO; false when OpenSSL could not (errors() says why).
  [[nodiscard]] bool start() noexcept;
  /// Runs the handshake as far as the socket allows.
  Status handshake() noexcept;
  /// Decrypts into `dst`. @return bytes (> 0) with kOk, or 0 with the status.
  std::size_t read(void* dst, std::size_t size, Status& status) noexcept;
  /// Encrypts `size` bytes (one record up to 16 KiB) into cipher().
  [[nodiscard]] bool write(const void* data, std::size_t size) noexcept;
  /// Queues close_notify into cipher().
  void shutdown() noexcept;
  /// OpenSSL holds bytes read from the socket that read() has not returned.
  [[nodiscard]] bool hasPending() const noexcept;

  [[nodiscard]] OutputQueue& cipher() noexcept { return cipher_; }
  [[nodiscard]] SSL* ssl() const noexcept { return ssl_.get(); }
  /// The socket error a failed read saw (0 when TLS itself failed).
  [[nodiscard]] int sysError() const noexcept { return sys_error_; }
  /// OpenSSL's queued errors and a failed peer verification, as one line.
  [[nodiscard]] std::string errors();

 private:
  static int onBioRead(BIO* bio, char* data, int size);
  static int onBioWrite(BIO* bio, const char* data, int size);
  static long onBioCtrl(BIO* bio, int command, long number, void* pointer);
  Status classify(int result) noexcept;

  SslPtr ssl_;
  const int fd_;
  const bool server_;
  int sys_error_ = 0;
  bool write_failed_ = false;
  OutputQueue cipher_;
};

}  // namespace spool::core
