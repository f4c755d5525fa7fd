// Owning handles for every libevent object (OpenSSL's are in core/src/ssl_handles.h):
// the one place that frees them.
#pragma once

#include <event2/event.h>
#include <event2/listener.h>

#include <memory>

#include "ssl_handles.h"

namespace spool::libevent {

using core::BioPtr;
using core::CDeleter;
using core::SslCtxPtr;
using core::SslPtr;
using core::X509Ptr;

using EventBasePtr = std::unique_ptr<event_base, CDeleter<&event_base_free>>;
using EventPtr = std::unique_ptr<event, CDeleter<&event_free>>;
using EventConfigPtr = std::unique_ptr<event_config, CDeleter<&event_config_free>>;
using ListenerPtr = std::unique_ptr<evconnlistener, CDeleter<&evconnlistener_free>>;

}  // namespace spool::libevent
