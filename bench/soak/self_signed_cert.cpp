#include "self_signed_cert.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <memory>
#include <stdexcept>

#include "c_deleter.h"

namespace spool::bench {
namespace {

using KeyPtr = std::unique_ptr<EVP_PKEY, CDeleter<&EVP_PKEY_free>>;
using CertPtr = std::unique_ptr<X509, CDeleter<&X509_free>>;
using ExtensionPtr = std::unique_ptr<X509_EXTENSION, CDeleter<&X509_EXTENSION_free>>;

constexpr long kValidSeconds = 86400;

void check(bool ok, const char* what) {
  if (!ok) {
    throw std::runtime_error(std::string("certificate: ") + what);
  }
}

void addExtension(X509* cert, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  ExtensionPtr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value));
  check(ext != nullptr && X509_add_ext(cert, ext.get(), -1) == 1, "extension");
}

CertPtr makeCert(EVP_PKEY* key) {
  CertPtr cert(X509_new());
  check(cert != nullptr, "X509_new");
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);  // tolerate clock skew
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), kValidSeconds);
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("127.0.0.1"), -1, -1, 0);
  X509_set_issuer_name(cert.get(), name);
  // Its own CA, as `openssl req -x509` makes it: the clients trust it directly.
  addExtension(cert.get(), NID_basic_constraints, "critical,CA:TRUE");
  addExtension(cert.get(), NID_subject_alt_name, "IP:127.0.0.1,IP:::1,DNS:localhost");
  check(X509_sign(cert.get(), key, EVP_sha256()) > 0, "signing");
  return cert;
}

template <typename Write>
void writePem(const std::string& path, Write write) {
  std::FILE* file = std::fopen(path.c_str(), "w");
  check(file != nullptr, "cannot create a PEM file");
  const bool ok = write(file);
  check(std::fclose(file) == 0 && ok, "writing a PEM file");
}

}  // namespace

CertFiles writeSelfSignedCert(const std::string& dir) {
  KeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  check(key != nullptr, "EC key generation");
  CertPtr cert = makeCert(key.get());
  CertFiles files{dir + "/cert.pem", dir + "/key.pem"};
  writePem(files.cert, [&](std::FILE* f) { return PEM_write_X509(f, cert.get()) == 1; });
  writePem(files.key, [&](std::FILE* f) {
    return PEM_write_PrivateKey(f, key.get(), nullptr, nullptr, 0, nullptr, nullptr) == 1;
  });
  return files;
}

}  // namespace spool::bench
