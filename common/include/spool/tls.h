// TLS configuration of listeners and outgoing connections (no OpenSSL type here).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace spool {

enum class TlsVersion : std::uint8_t { kTls12, kTls13 };

/// Whether to ask for, and check, the peer's certificate.
enum class PeerVerification : std::uint8_t {
  kDefault,   ///< servers: kNone; clients: kRequired
  kNone,      ///< servers: do not ask; clients: accept any certificate (tests only)
  kOptional,  ///< servers: ask, and verify one if the client sends it
  kRequired,  ///< verify, and fail the handshake without a valid certificate
};

/// TLS for one listener (server side) or one outgoing connection (client
/// side). Files are PEM. Everything is checked when the listener or
/// connection is created: a missing file, a key that does not match the
/// certificate or a cipher string OpenSSL rejects fails there with a
/// SetupError naming the file and OpenSSL's reason.
struct TlsConfig {
  std::string certificate_chain_file;  ///< required on servers; a client certificate on clients
  std::string private_key_file;        ///< the key of certificate_chain_file
  std::string ca_file;                 ///< trusted CAs for verifying the peer
  std::string ca_directory;            ///< hashed CA directory (c_rehash), alternative or extra
  PeerVerification verify_peer = PeerVerification::kDefault;
  TlsVersion min_version = TlsVersion::kTls12;
  TlsVersion max_version = TlsVersion::kTls13;  ///< lower it only for old peers or tests
  std::string cipher_list;    ///< TLS 1.2 ciphers, OpenSSL syntax; empty: OpenSSL's default
  std::string cipher_suites;  ///< TLS 1.3 suites, OpenSSL syntax; empty: OpenSSL's default
  std::vector<std::string> alpn_protocols;  ///< in preference order; empty: no ALPN
  /// Clients: the name sent with SNI and checked against the certificate
  /// (host name or IP address). Empty: Transport::connect() uses the host it
  /// was given (ConnectOptions::host).
  std::string server_name;
  /// Clients: check the certificate's names against server_name. false skips
  /// only that check (the chain is still verified against the CAs): for a
  /// peer reached by an address its certificate does not name, such as a
  /// pinned internal CA. Any certificate from a trusted CA then passes.
  bool verify_host_name = true;
};

/// What a handler can learn about a TLS peer, once the handshake is done.
struct TlsPeerInfo {
  std::string protocol;       ///< "TLSv1.3"
  std::string cipher;         ///< "TLS_AES_256_GCM_SHA384"
  std::string alpn;           ///< the protocol chosen by ALPN, or empty
  bool has_certificate = false;
  std::string subject;        ///< one line, e.g. "CN=client,O=spool"
  std::string issuer;
  bool verified = false;      ///< the certificate chain verified against the CAs
  std::string verify_result;  ///< OpenSSL's text for the verification result
};

}  // namespace spool
