#include "test_pki.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <stdexcept>

namespace spool::test {
namespace {

template <auto Fn>
struct Free {
  template <typename T>
  void operator()(T* p) const noexcept {
    Fn(p);
  }
};
using KeyPtr = std::unique_ptr<EVP_PKEY, Free<&EVP_PKEY_free>>;
using CertPtr = std::unique_ptr<X509, Free<&X509_free>>;

void check(bool ok, const char* what) {
  if (!ok) {
    throw std::runtime_error(std::string("test PKI: ") + what);
  }
}

KeyPtr newKey() {
  KeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  check(key != nullptr, "EC key generation");
  return key;
}

void addExtension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  std::unique_ptr<X509_EXTENSION, Free<&X509_EXTENSION_free>> ext(
      X509V3_EXT_conf_nid(nullptr, &ctx, nid, value));
  check(ext != nullptr && X509_add_ext(cert, ext.get(), -1) == 1, "certificate extension");
}

struct Spec {
  const char* common_name;
  long valid_from_days;  // relative to now
  long valid_to_days;
  bool is_ca = false;
  const char* san = nullptr;
};

CertPtr makeCert(const Spec& spec, EVP_PKEY* key, X509* issuer, EVP_PKEY* issuer_key, long serial) {
  CertPtr cert(X509_new());
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), spec.valid_from_days * 86400);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), spec.valid_to_days * 86400);
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("spool tests"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(spec.common_name), -1, -1, 0);
  X509* signer = issuer != nullptr ? issuer : cert.get();
  X509_set_issuer_name(cert.get(), X509_get_subject_name(signer));
  addExtension(cert.get(), signer, NID_basic_constraints, spec.is_ca ? "critical,CA:TRUE" : "CA:FALSE");
  if (spec.is_ca) {
    addExtension(cert.get(), signer, NID_key_usage, "critical,keyCertSign,cRLSign");
  }
  if (spec.san != nullptr) {
    addExtension(cert.get(), signer, NID_subject_alt_name, spec.san);
  }
  check(X509_sign(cert.get(), issuer_key != nullptr ? issuer_key : key, EVP_sha256()) > 0, "signing");
  return cert;
}

void writeCert(const std::string& path, X509* cert) {
  std::FILE* file = std::fopen(path.c_str(), "w");
  check(file != nullptr && PEM_write_X509(file, cert) == 1, "writing a certificate");
  std::fclose(file);
}

void writeKey(const std::string& path, EVP_PKEY* key) {
  std::FILE* file = std::fopen(path.c_str(), "w");
  check(file != nullptr && PEM_write_PrivateKey(file, key, nullptr, nullptr, 0, nullptr, nullptr) == 1,
        "writing a key");
  std::fclose(file);
}

constexpr const char* kServerNames = "DNS:localhost,IP:127.0.0.1,IP:::1";

TestPki build() {
  TestPki pki;
  char pattern[] = "/tmp/spool-test-pki-XXXXXX";
  check(mkdtemp(pattern) != nullptr, "temporary folder");
  pki.dir = pattern;
  const auto path = [&](const char* name) { return pki.dir + "/" + name; };

  KeyPtr ca_key = newKey();
  CertPtr ca = makeCert({"spool test CA", -1, 30, true}, ca_key.get(), nullptr, nullptr, 1);
  writeCert(pki.ca_cert = path("ca.pem"), ca.get());

  const auto issue = [&](const Spec& spec, long serial, std::string& cert_path, std::string& key_path,
                         const char* name) {
    KeyPtr key = newKey();
    CertPtr cert = makeCert(spec, key.get(), ca.get(), ca_key.get(), serial);
    writeCert(cert_path = path((std::string(name) + ".pem").c_str()), cert.get());
    writeKey(key_path = path((std::string(name) + "-key.pem").c_str()), key.get());
  };
  issue({"localhost", -1, 30, false, kServerNames}, 2, pki.server_cert, pki.server_key, "server");
  issue({"spool-test-client", -1, 30, false, nullptr}, 3, pki.client_cert, pki.client_key, "client");
  issue({"localhost", -10, -1, false, kServerNames}, 4, pki.expired_cert, pki.expired_key, "expired");
  issue({"other.example", -1, 30, false, "DNS:other.example"}, 6, pki.other_name_cert, pki.other_name_key,
        "other-name");

  KeyPtr untrusted_key = newKey();
  CertPtr untrusted = makeCert({"localhost", -1, 30, false, kServerNames}, untrusted_key.get(), nullptr,
                               nullptr, 5);
  writeCert(pki.untrusted_cert = path("untrusted.pem"), untrusted.get());
  writeKey(pki.untrusted_key = path("untrusted-key.pem"), untrusted_key.get());
  KeyPtr wrong = newKey();
  writeKey(pki.wrong_key = path("wrong-key.pem"), wrong.get());
  return pki;
}

}  // namespace

const TestPki& TestPki::get() {
  static const TestPki pki = build();
  static const struct Cleanup {
    ~Cleanup() {
      std::error_code ignored;
      std::filesystem::remove_all(pki.dir, ignored);
    }
  } cleanup;
  return pki;
}

TlsConfig serverTls(PeerVerification verify) {
  const auto& pki = TestPki::get();
  TlsConfig tls;
  tls.certificate_chain_file = pki.server_cert;
  tls.private_key_file = pki.server_key;
  tls.ca_file = pki.ca_cert;
  tls.verify_peer = verify;
  return tls;
}

TlsConfig clientTls(bool with_certificate) {
  const auto& pki = TestPki::get();
  TlsConfig tls;
  tls.ca_file = pki.ca_cert;
  tls.server_name = "localhost";
  tls.verify_peer = PeerVerification::kRequired;
  if (with_certificate) {
    tls.certificate_chain_file = pki.client_cert;
    tls.private_key_file = pki.client_key;
  }
  return tls;
}

}  // namespace spool::test
