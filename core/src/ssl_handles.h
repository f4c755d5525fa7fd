// Owning handles for OpenSSL objects: the one place that frees them.
#pragma once

#include <openssl/ssl.h>

#include <memory>

namespace spool::core {

/// A deleter that calls a C library's free function.
template <auto FreeFn>
struct CDeleter {
  template <typename T>
  void operator()(T* handle) const noexcept {
    FreeFn(handle);
  }
};

using SslCtxPtr = std::unique_ptr<SSL_CTX, CDeleter<&SSL_CTX_free>>;
using SslPtr = std::unique_ptr<SSL, CDeleter<&SSL_free>>;
using X509Ptr = std::unique_ptr<X509, CDeleter<&X509_free>>;
using BioPtr = std::unique_ptr<BIO, CDeleter<&BIO_free_all>>;

}  // namespace spool::core
