// Certificates made at test time (none is committed): a CA, a server and a
// client it signed, an expired server certificate, and an untrusted one.
#pragma once

#include <string>

#include "spool/tls.h"

namespace spool::test {

struct TestPki {
  std::string dir;
  std::string ca_cert;
  std::string server_cert, server_key;    // CN=localhost; SAN localhost, 127.0.0.1, ::1
  std::string client_cert, client_key;    // CN=spool-test-client
  std::string expired_cert, expired_key;  // like the server's, but expired yesterday
  std::string untrusted_cert, untrusted_key;  // self-signed CN=localhost
  std::string other_name_cert, other_name_key;  // from the CA, for other.example only
  std::string wrong_key;                  // matches no certificate

  /// Made once per process in a temporary folder, removed at exit.
  static const TestPki& get();
};

/// Server-side TLS settings using the test PKI.
TlsConfig serverTls(PeerVerification verify = PeerVerification::kNone);
/// Client-side TLS settings trusting the test CA, checking "localhost".
TlsConfig clientTls(bool with_certificate = false);

}  // namespace spool::test
