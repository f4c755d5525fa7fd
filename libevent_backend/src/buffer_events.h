// Making a connection's bufferevent, plain or TLS, and reading its TLS errors.
#pragma once

#include <string>

#include "handles.h"
#include "tls_context.h"

namespace spool::libevent {

using core::TlsContext;

/// A bufferevent for `fd` (-1: one that bufferevent_socket_connect will
/// create): a socket bufferevent, or with `tls` an OpenSSL one in the
/// context's role. On failure: null, the socket closed, the reason in `error`.
BufferEventPtr makeBufferEvent(event_base* base, evutil_socket_t fd, const TlsContext* tls,
                               int options, std::string& error);

/// The OpenSSL errors libevent queued on a TLS bufferevent (drained), plus
/// the peer certificate's verification result when it failed; "" if none.
std::string takeTlsErrors(bufferevent* bev);

}  // namespace spool::libevent
