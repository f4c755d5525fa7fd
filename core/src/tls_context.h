// One SSL_CTX built from a TlsConfig, shared by a listener's connections.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "ssl_handles.h"
#include "spool/tls.h"

namespace spool::core {

/// Immutable once built; thread-safe (OpenSSL allows SSL_new on a shared
/// SSL_CTX from any thread).
class TlsContext {
 public:
  enum class Role { kServer, kClient };

  /// Builds the context. @throws SetupError naming the file or setting at
  /// fault and OpenSSL's reason.
  static std::shared_ptr<const TlsContext> create(const TlsConfig& config, Role role);

  /// A new SSL for one connection (client name checks already set up), or
  /// null with the OpenSSL errors drained into `error`.
  [[nodiscard]] SslPtr newSsl(std::string& error) const;
  [[nodiscard]] Role role() const noexcept { return role_; }
  /// The context itself, for a backend whose TLS library makes each
  /// connection's SSL (folly's AsyncSSLSocket). A client context already
  /// checks the peer's name (server_name) for every SSL made from it.
  [[nodiscard]] SSL_CTX* native() const noexcept { return ctx_.get(); }
  /// Clients: the name to send with SNI (empty for none or an IP address).
  [[nodiscard]] std::string sniName() const;

 private:
  TlsContext(const TlsConfig& config, Role role);
  static int onAlpnSelectCb(SSL* ssl, const unsigned char** out, unsigned char* out_length,
                            const unsigned char* in, unsigned int in_length, void* ctx);

  void loadCertificate();
  void loadVerification();
  void applyProtocolSettings();

  TlsConfig config_;
  Role role_;
  SslCtxPtr ctx_;
  std::vector<unsigned char> alpn_wire_;  // length-prefixed protocol names
};

/// Empties OpenSSL's thread-local error queue into one readable line
/// ("error:0A00010B:SSL routines::wrong version number; ..."), or "" if empty.
std::string drainOpenSslErrors();

/// "peer certificate: <OpenSSL's reason>" when the peer's certificate failed
/// verification on `ssl`, else "".
std::string peerVerifyFailure(const SSL* ssl);

/// What the handshake established; call after it completed.
TlsPeerInfo describeTlsPeer(const SSL* ssl);

}  // namespace spool::core
