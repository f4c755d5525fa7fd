// The `stats` groups, produced once for both the text and binary protocols.
#pragma once

#include <functional>
#include <string_view>

#include "server_context.h"

namespace spoold {

/// Receives one statistic (name, value).
using StatSink = std::function<void(std::string_view name, std::string_view value)>;

/// Emits the statistics of `group` ("" for the general ones; "settings",
/// "items", "slabs", "conns"). @return false for an unknown group.
bool reportStats(ServerContext& ctx, std::string_view group, const StatSink& sink);

}  // namespace spoold
