#include "tls_context.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "spool/errors.h"
#include "spool/transport.h"
#include "tls_context_cache.h"

namespace spool::core {
namespace {

[[noreturn]] void fail(const std::string& what) {
  const std::string reason = drainOpenSslErrors();
  throw SetupError("TLS: " + what + (reason.empty() ? "" : ": " + reason));
}

/// Fails with a TlsFileError: `what`, OpenSSL's reasons, and the first of
/// them on its own.
[[noreturn]] void failFile(const std::string& what, TlsFileError::Kind kind,
                           const std::string& file) {
  const unsigned long first = ERR_peek_error();
  char reason[256] = {};
  if (first != 0) {
    ERR_error_string_n(first, reason, sizeof(reason));
  }
  const std::string all = drainOpenSslErrors();
  throw TlsFileError("TLS: " + what + (all.empty() ? "" : ": " + all), kind, file, reason);
}

/// A clear message for the commonest mistake, before OpenSSL's own.
void requireReadable(const std::string& path, const char* what, TlsFileError::Kind kind) {
  std::FILE* file = std::fopen(path.c_str(), "r");
  if (file == nullptr) {
    const int error = errno;
    // OpenSSL's own words for it, as when it opens the file itself.
    char reason[256] = {};
    ERR_error_string_n(ERR_SYSTEM_FLAG | static_cast<unsigned long>(error), reason, sizeof(reason));
    throw TlsFileError(
        std::string("TLS: cannot open ") + what + " '" + path + "': " + std::strerror(error), kind,
        path, reason);
  }
  std::fclose(file);
}

bool isIpAddress(const std::string& name) {
  unsigned char buffer[16];
  return inet_pton(AF_INET, name.c_str(), buffer) == 1 || inet_pton(AF_INET6, name.c_str(), buffer) == 1;
}

std::string nameLine(X509_NAME* name) {
  if (name == nullptr) {
    return {};
  }
  BioPtr bio(BIO_new(BIO_s_mem()));
  X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253);
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(length));
}

}  // namespace

std::string drainOpenSslErrors() {
  std::string out;
  while (const unsigned long code = ERR_get_error()) {
    char text[256];
    ERR_error_string_n(code, text, sizeof(text));
    if (!out.empty()) {
      out += "; ";
    }
    out += text;
  }
  return out;
}

std::shared_ptr<const TlsContext> TlsContext::create(const TlsConfig& config, Role role) {
  ERR_clear_error();
  return std::shared_ptr<const TlsContext>(new TlsContext(config, role));
}

TlsContext::TlsContext(const TlsConfig& config, Role role) : config_(config), role_(role) {
  ctx_.reset(SSL_CTX_new(role == Role::kServer ? TLS_server_method() : TLS_client_method()));
  if (!ctx_) {
    fail("SSL_CTX_new failed");
  }
  loadCertificate();
  loadVerification();
  applyProtocolSettings();
  if (role_ == Role::kClient && !config_.server_name.empty() && config_.verify_host_name) {
    // On the context too, not only in newSsl(): SSLs that another library
    // makes from native() inherit the check.
    X509_VERIFY_PARAM* param = SSL_CTX_get0_param(ctx_.get());
    const std::string& name = config_.server_name;
    if ((isIpAddress(name) ? X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str())
                           : X509_VERIFY_PARAM_set1_host(param, name.c_str(), name.size())) != 1) {
      fail("cannot check the peer's name against '" + name + "'");
    }
  }
}

std::string TlsContext::sniName() const {
  return role_ == Role::kClient && !isIpAddress(config_.server_name) ? config_.server_name : std::string();
}

void TlsContext::loadCertificate() {
  if (config_.certificate_chain_file.empty()) {
    if (role_ == Role::kServer) {
      throw SetupError("TLS: a server needs certificate_chain_file and private_key_file");
    }
    return;  // a client without a certificate of its own
  }
  const auto chain = TlsFileError::Kind::kCertificateChain;
  const auto key = TlsFileError::Kind::kPrivateKey;
  requireReadable(config_.certificate_chain_file, "certificate chain", chain);
  if (SSL_CTX_use_certificate_chain_file(ctx_.get(), config_.certificate_chain_file.c_str()) != 1) {
    failFile("cannot load certificate chain '" + config_.certificate_chain_file + "'", chain,
             config_.certificate_chain_file);
  }
  if (config_.private_key_file.empty()) {
    throw SetupError("TLS: certificate '" + config_.certificate_chain_file + "' has no private_key_file");
  }
  requireReadable(config_.private_key_file, "private key", key);
  const std::string mismatch = "private key '" + config_.private_key_file +
                               "' does not match certificate '" + config_.certificate_chain_file + "'";
  if (SSL_CTX_use_PrivateKey_file(ctx_.get(), config_.private_key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    // OpenSSL notices a mismatch already here; say it in words.
    const bool mismatched = ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH;
    failFile(mismatched ? mismatch : "cannot load private key '" + config_.private_key_file + "'",
             key, config_.private_key_file);
  }
  if (SSL_CTX_check_private_key(ctx_.get()) != 1) {
    failFile(mismatch, key, config_.private_key_file);
  }
}

void TlsContext::loadVerification() {
  PeerVerification verify = config_.verify_peer;
  if (verify == PeerVerification::kDefault) {
    verify = role_ == Role::kServer ? PeerVerification::kNone : PeerVerification::kRequired;
  }
  if (!config_.ca_file.empty()) {
    requireReadable(config_.ca_file, "CA file", TlsFileError::Kind::kCaFile);
  }
  if (!config_.ca_file.empty() || !config_.ca_directory.empty()) {
    if (SSL_CTX_load_verify_locations(ctx_.get(), config_.ca_file.empty() ? nullptr : config_.ca_file.c_str(),
                                      config_.ca_directory.empty() ? nullptr : config_.ca_directory.c_str()) != 1) {
      failFile("cannot load CA '" + config_.ca_file + config_.ca_directory + "'",
               TlsFileError::Kind::kCaFile,
               config_.ca_file.empty() ? config_.ca_directory : config_.ca_file);
    }
  } else if (verify != PeerVerification::kNone) {
    if (role_ == Role::kServer) {
      throw SetupError("TLS: verifying client certificates needs ca_file or ca_directory");
    }
    SSL_CTX_set_default_verify_paths(ctx_.get());  // the system's CAs
  }
  int mode = SSL_VERIFY_NONE;
  if (verify == PeerVerification::kRequired) {
    mode = SSL_VERIFY_PEER | (role_ == Role::kServer ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0);
  } else if (verify == PeerVerification::kOptional && role_ == Role::kServer) {
    mode = SSL_VERIFY_PEER;
  }
  SSL_CTX_set_verify(ctx_.get(), mode, nullptr);
  if (role_ == Role::kServer && mode != SSL_VERIFY_NONE && !config_.ca_file.empty()) {
    // Tells clients which CAs we accept, so they pick the right certificate.
    SSL_CTX_set_client_CA_list(ctx_.get(), SSL_load_client_CA_file(config_.ca_file.c_str()));
  }
}

void TlsContext::applyProtocolSettings() {
  const auto version = [](TlsVersion v) { return v == TlsVersion::kTls13 ? TLS1_3_VERSION : TLS1_2_VERSION; };
  if (config_.max_version < config_.min_version) {
    throw SetupError("TLS: max_version is below min_version");
  }
  SSL_CTX_set_min_proto_version(ctx_.get(), version(config_.min_version));
  SSL_CTX_set_max_proto_version(ctx_.get(), version(config_.max_version));
  if (!config_.cipher_list.empty() && SSL_CTX_set_cipher_list(ctx_.get(), config_.cipher_list.c_str()) != 1) {
    fail("bad TLS 1.2 cipher list '" + config_.cipher_list + "'");
  }
  if (!config_.cipher_suites.empty() &&
      SSL_CTX_set_ciphersuites(ctx_.get(), config_.cipher_suites.c_str()) != 1) {
    fail("bad TLS 1.3 cipher suites '" + config_.cipher_suites + "'");
  }
  // No renegotiation; small buffers while idle (many connections). A peer
  // that closes its TCP stream without close_notify (most memcached clients)
  // is an ordinary EOF, as on plain TCP: OpenSSL 3 otherwise fails the
  // connection ("unexpected eof while reading"), and what the peer sent
  // before its FIN, and the responses still owed to it, would be lost.
  SSL_CTX_set_options(ctx_.get(),
                      SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_IGNORE_UNEXPECTED_EOF);
  SSL_CTX_set_mode(ctx_.get(), SSL_MODE_RELEASE_BUFFERS);
  if (role_ == Role::kServer) {
    static const unsigned char kSessionContext[] = "spool";
    SSL_CTX_set_session_id_context(ctx_.get(), kSessionContext, sizeof(kSessionContext) - 1);
  }
  for (const auto& protocol : config_.alpn_protocols) {
    if (protocol.empty() || protocol.size() > 255) {
      throw SetupError("TLS: bad ALPN protocol name '" + protocol + "'");
    }
    alpn_wire_.push_back(static_cast<unsigned char>(protocol.size()));
    alpn_wire_.insert(alpn_wire_.end(), protocol.begin(), protocol.end());
  }
  if (!alpn_wire_.empty()) {
    if (role_ == Role::kServer) {
      SSL_CTX_set_alpn_select_cb(ctx_.get(), &TlsContext::onAlpnSelectCb, this);
    } else if (SSL_CTX_set_alpn_protos(ctx_.get(), alpn_wire_.data(),
                                       static_cast<unsigned>(alpn_wire_.size())) != 0) {
      fail("cannot set ALPN protocols");
    }
  }
}

int TlsContext::onAlpnSelectCb(SSL*, const unsigned char** out, unsigned char* out_length,
                               const unsigned char* in, unsigned int in_length, void* ctx) {
  const auto* self = static_cast<const TlsContext*>(ctx);
  unsigned char* selected = nullptr;
  // Our preference order wins; no overlap means no ALPN rather than failure.
  if (SSL_select_next_proto(&selected, out_length, self->alpn_wire_.data(),
                            static_cast<unsigned>(self->alpn_wire_.size()), in,
                            in_length) != OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_NOACK;
  }
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

SslPtr TlsContext::newSsl(std::string& error) const {
  SslPtr ssl(SSL_new(ctx_.get()));
  if (!ssl) {
    error = drainOpenSslErrors();
    return nullptr;
  }
  if (role_ == Role::kClient && !config_.server_name.empty()) {
    const std::string& name = config_.server_name;
    const bool ip = isIpAddress(name);
    if (!ip && SSL_set_tlsext_host_name(ssl.get(), name.c_str()) != 1) {
      error = "cannot send the server name '" + name + "': " + drainOpenSslErrors();
      return nullptr;
    }
    // (The context's verify parameters already name the peer; set per SSL
    // too, so the check never depends on how the SSL was made.)
    if (config_.verify_host_name &&
        (ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl.get()), name.c_str())
            : SSL_set1_host(ssl.get(), name.c_str())) != 1) {
      error = "cannot check the peer's name against '" + name + "': " + drainOpenSslErrors();
      return nullptr;
    }
  }
  return ssl;
}

}  // namespace spool::core

namespace spool {

void Transport::checkServerTls(const TlsConfig& config) {
  core::TlsContext::create(config, core::TlsContext::Role::kServer);
}

}  // namespace spool

namespace spool::core {

std::string tlsConfigKey(const TlsConfig& config) {
  // Length-prefixed fields: no two configurations share a key.
  std::string key;
  const auto add = [&key](const std::string& field) {
    key += std::to_string(field.size());
    key += ':';
    key += field;
  };
  add(config.certificate_chain_file);
  add(config.private_key_file);
  add(config.ca_file);
  add(config.ca_directory);
  add(std::to_string(static_cast<int>(config.verify_peer)));
  add(std::to_string(static_cast<int>(config.min_version)));
  add(std::to_string(static_cast<int>(config.max_version)));
  add(config.cipher_list);
  add(config.cipher_suites);
  add(std::to_string(config.alpn_protocols.size()));
  for (const auto& protocol : config.alpn_protocols) {
    add(protocol);
  }
  add(config.server_name);
  add(config.verify_host_name ? "1" : "0");
  return key;
}

std::string peerVerifyFailure(const SSL* ssl) {
  const long result = ssl != nullptr ? SSL_get_verify_result(ssl) : X509_V_OK;
  return result == X509_V_OK ? std::string() : std::string("peer certificate: ") + X509_verify_cert_error_string(result);
}

TlsPeerInfo describeTlsPeer(const SSL* ssl) {
  TlsPeerInfo info;
  info.protocol = SSL_get_version(ssl);
  info.cipher = SSL_get_cipher_name(ssl);
  const unsigned char* alpn = nullptr;
  unsigned int alpn_length = 0;
  SSL_get0_alpn_selected(ssl, &alpn, &alpn_length);
  info.alpn.assign(reinterpret_cast<const char*>(alpn), alpn_length);
  if (const X509Ptr certificate{SSL_get1_peer_certificate(ssl)}) {
    info.has_certificate = true;
    info.subject = nameLine(X509_get_subject_name(certificate.get()));
    info.issuer = nameLine(X509_get_issuer_name(certificate.get()));
  }
  const long result = SSL_get_verify_result(ssl);
  info.verified = info.has_certificate && result == X509_V_OK;
  info.verify_result = X509_verify_cert_error_string(result);
  return info;
}

}  // namespace spool::core
