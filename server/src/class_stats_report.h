// `stats items` and `stats slabs`: the per slab class statistics.
#pragma once

#include "server_context.h"
#include "stats_report.h"

namespace spoold {

/// `stats items`, with memcached 1.6.18's fields in its order (segmented LRU
/// mode, its default), for each class that holds items.
///
/// spoold keeps one flat LRU per shard, so the fields of memcached's
/// hot/warm/cold segments are reported as memcached would in the equivalent
/// state where every item sits in COLD: number_hot, number_warm, age_hot,
/// age_warm, moves_to_cold, moves_to_warm, moves_within_lru and
/// evicted_active are always 0, number_cold equals number, and hits_to_cold
/// counts the class's get and touch hits. tailrepairs, lrutail_reflocked and
/// the crawler's fields are 0 too (no item reference counts; the crawler
/// does not reclaim). The rest follow what the store did: evictions and
/// reclaims per class, reset by `stats reset`.
void reportItemStats(ServerContext& ctx, const StatSink& sink);

/// `stats slabs`, memcached's fields in its order. spoold allocates each item
/// on its own, so the page and chunk figures are those memcached would show
/// for the same items (chunks_per_page from a page of -I bytes, total_pages
/// the pages the used chunks need); total_malloced is the bytes spoold's
/// items take. The command counters (get_hits, cmd_set, ...) are real.
void reportSlabStats(ServerContext& ctx, const StatSink& sink);

}  // namespace spoold
