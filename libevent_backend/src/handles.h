// Owning handles for every libevent and OpenSSL object: the one place that frees them.
#pragma once

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/ssl.h>

#include <memory>

namespace spool::libevent {

template <auto FreeFn>
struct CDeleter {
  template <typename T>
  void operator()(T* handle) const noexcept {
    FreeFn(handle);
  }
};

using EventBasePtr = std::unique_ptr<event_base, CDeleter<&event_base_free>>;
using EventPtr = std::unique_ptr<event, CDeleter<&event_free>>;
using EventConfigPtr = std::unique_ptr<event_config, CDeleter<&event_config_free>>;
using BufferEventPtr = std::unique_ptr<bufferevent, CDeleter<&bufferevent_free>>;
using EvBufferPtr = std::unique_ptr<evbuffer, CDeleter<&evbuffer_free>>;
using ListenerPtr = std::unique_ptr<evconnlistener, CDeleter<&evconnlistener_free>>;
using SslCtxPtr = std::unique_ptr<SSL_CTX, CDeleter<&SSL_CTX_free>>;
using SslPtr = std::unique_ptr<SSL, CDeleter<&SSL_free>>;
using X509Ptr = std::unique_ptr<X509, CDeleter<&X509_free>>;
using BioPtr = std::unique_ptr<BIO, CDeleter<&BIO_free_all>>;

}  // namespace spool::libevent
