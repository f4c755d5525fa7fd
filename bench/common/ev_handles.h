// Owning handles for the libevent objects the baseline strategies create
// directly (spool's own are private to the backend).
#pragma once

#include <event2/event.h>
#include <event2/listener.h>

#include <memory>

#include "c_deleter.h"

namespace spool::bench {

using EventBasePtr = std::unique_ptr<event_base, CDeleter<&event_base_free>>;
using EventPtr = std::unique_ptr<event, CDeleter<&event_free>>;
using EvListenerPtr = std::unique_ptr<evconnlistener, CDeleter<&evconnlistener_free>>;

/// event_new() that aborts on failure (setup only).
EventPtr makeEvent(event_base* base, evutil_socket_t fd, short what, event_callback_fn cb, void* ctx);

}  // namespace spool::bench
