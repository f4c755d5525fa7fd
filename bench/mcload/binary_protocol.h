// memcached's binary protocol (GET, SET), requests matched by opaque.
#pragma once

#include <memory>

#include "mc_protocol.h"

namespace spool::bench {

std::unique_ptr<McProtocol> makeBinaryProtocol();

}  // namespace spool::bench
