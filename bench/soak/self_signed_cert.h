// The soak's TLS certificate, made at run time: nothing secret is stored
// in the repository and nothing expires between runs.
#pragma once

#include <string>

namespace spool::bench {

struct CertFiles {
  std::string cert;  ///< PEM; the clients also trust it as their only CA
  std::string key;   ///< PEM, unencrypted
};

/// Writes a self-signed EC P-256 certificate for 127.0.0.1, ::1 and
/// localhost, valid for a day, into `dir`. Throws std::runtime_error.
CertFiles writeSelfSignedCert(const std::string& dir);

}  // namespace spool::bench
