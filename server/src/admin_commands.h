// memcached's run-time tuning commands: cache_memlimit, slabs, lru.
#pragma once

#include <string_view>

#include "server_context.h"
#include "text_parser.h"

namespace spoold {

/// Whether `name` is one of the commands runAdminCommand() answers.
bool isAdminCommand(std::string_view name) noexcept;

/// Runs `cache_memlimit`, `slabs` or `lru` as memcached 1.6.18 does.
///
/// `cache_memlimit <mb>` changes the store's limit at once (a smaller one
/// evicts down to it). spoold has no slab pages to move and one flat LRU per
/// shard, so the rest answer as memcached does with those features off
/// (`-o no_slab_reassign,no_lru_maintainer`): `slabs reassign` is "slab
/// reassignment disabled", `slabs automove` and `lru tune` are checked and
/// accepted (settings with nothing to act on), `lru mode|temp_ttl` is ERROR.
/// @param noreply set when the command's last token was "noreply".
/// @return the reply line.
std::string_view runAdminCommand(ServerContext& ctx, const Tokens& tokens, bool& noreply);

}  // namespace spoold
