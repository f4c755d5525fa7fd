// memcached's line-based protocols: the classic text protocol and the meta protocol.
#pragma once

#include <memory>

#include "mc_protocol.h"

namespace spool::bench {

/// get / set with "VALUE ... END" and "STORED" replies.
std::unique_ptr<McProtocol> makeTextProtocol();
/// mg <key> v k / ms <key> <size> with "VA"/"EN"/"HD" replies.
std::unique_ptr<McProtocol> makeMetaProtocol();

}  // namespace spool::bench
