#include "stats_report.h"

#include <sys/resource.h>
#include <unistd.h>

#include <bit>
#include <ctime>
#include <fmt/format.h>

#include "spool/transport.h"
#include "tls_options.h"
#include "class_stats_report.h"

namespace spoold {
namespace {

class Emitter {
 public:
  explicit Emitter(const StatSink& sink) : sink_(sink) {}
  template <typename T>
  void operator()(std::string_view name, const T& value) {
    buffer_.clear();
    fmt::format_to(std::back_inserter(buffer_), "{}", value);
    sink_(name, std::string_view(buffer_.data(), buffer_.size()));
  }

 private:
  const StatSink& sink_;
  fmt::memory_buffer buffer_;
};

std::string rusage(bool user) {
  struct rusage usage {};
  getrusage(RUSAGE_SELF, &usage);
  const timeval& tv = user ? usage.ru_utime : usage.ru_stime;
  return fmt::format("{}.{:06}", tv.tv_sec, tv.tv_usec);
}

void emitCounters(ServerContext& ctx, Emitter& emit) {
  const StoreCounters store = ctx.store.counters();
  for (std::size_t i = 0; i < static_cast<std::size_t>(Counter::kConnYields); ++i) {
    const auto counter = static_cast<Counter>(i);
    if (counter == Counter::kIdleKicks && ctx.settings.idle_timeout == 0) {
      continue;  // as memcached: only with -o idle_timeout
    }
    emit(counterName(counter), ctx.stats.get(counter));
    if (counter == Counter::kGetMisses) {
      emit("get_expired", store.get_expired);
      emit("get_flushed", store.get_flushed);
    }
  }
}

void emitTransport(ServerContext& ctx, Emitter& emit) {
  const spool::LoopStats t =
      ctx.transport_stats ? spool::total(ctx.transport_stats()) : spool::LoopStats{};
  emit("spool_loops", ctx.transport_stats ? ctx.transport_stats().size() : 0);
#define SPOOL_EMIT_LOOP_STAT(name, combine) emit("spool_" #name, t.name);
  SPOOL_LOOP_STATS(SPOOL_EMIT_LOOP_STAT)
#undef SPOOL_EMIT_LOOP_STAT
  emit("spoold_queued_input_peak", ctx.queued_input_peak.load(std::memory_order_relaxed));
  emit("spoold_queued_input_pauses", ctx.queued_input_pauses.load(std::memory_order_relaxed));
}

/// memcached's keys for parts spoold does not have, each with the value that
/// is true of spoold (server/README.md, "stats"): no response objects or
/// read buffer pool, no descriptors taken out of -c, never a paused
/// listener.
void emitConnectionInternals(Emitter& emit) {
  for (const char* name : {"response_obj_oom", "response_obj_count", "response_obj_bytes",
                           "read_buf_count", "read_buf_bytes", "read_buf_bytes_free",
                           "read_buf_oom", "reserved_fds"}) {
    emit(name, 0);
  }
}

/// The hash table, slab mover, crawler, LRU maintainer, allocator and
/// logger lines, in memcached's order and under its conditions.
void emitInternals(ServerContext& ctx, Emitter& emit) {
  const Settings& s = ctx.settings;
  const std::size_t table_bytes = ctx.store.tableBytes();
  emit("hash_power_level", std::bit_width(table_bytes / 8) - 1);  // log2 of all shards' slots
  emit("hash_bytes", table_bytes);
  emit("hash_is_expanding", 0);  // a shard's table grows in one step under its lock
  if (s.tuning.slab_reassign) {
    for (const char* name : {"slab_reassign_rescues", "slab_reassign_chunk_rescues",
                             "slab_reassign_evictions_nomem", "slab_reassign_inline_reclaim",
                             "slab_reassign_busy_items", "slab_reassign_busy_deletes",
                             "slab_reassign_running", "slabs_moved"}) {
      emit(name, 0);  // no slab pages, nothing ever moved
    }
  }
  if (ctx.maintainer.crawlerEnabled()) {  // lru_crawler enable|disable
    // memcached's crawler runs both the crawls and the metadumps.
    const StoreMaintainer::Stats crawls = ctx.maintainer.stats();
    const ServerContext::CrawlerStats dumps =
        ctx.crawler_stats ? ctx.crawler_stats() : ServerContext::CrawlerStats{};
    emit("lru_crawler_running", crawls.running || dumps.running ? 1 : 0);
    emit("lru_crawler_starts", crawls.starts + dumps.starts);
  }
  if (s.tuning.lru_maintainer_thread) {
    emit("lru_maintainer_juggles", ctx.maintainer.stats().juggles);
  }
  emit("malloc_fails", 0);  // a failed item allocation throws and ends spoold
  emit("log_worker_dropped", 0);  // the watch log never drops for its own sake
  emit("log_worker_written", 0);
  const WatchLog::Stats watch = ctx.watch.stats();
  emit("log_watcher_skipped", watch.skipped);
  emit("log_watcher_sent", watch.sent);
  emit("log_watchers", watch.watchers);
}

/// The store's lines closing memcached's `stats`, its segmented-LRU,
/// crawler and page pool ones at the values true of one LRU per shard.
void emitStore(ServerContext& ctx, Emitter& emit) {
  const StoreCounters store = ctx.store.counters();
  emit("bytes", store.bytes);
  emit("curr_items", store.curr_items);
  emit("total_items", store.total_items);
  emit("slab_global_page_pool", 0);
  emit("expired_unfetched", store.expired_unfetched);
  emit("evicted_unfetched", store.evicted_unfetched);
  const bool segmented = ctx.settings.tuning.lru_maintainer_thread;  // memcached's conditions
  if (segmented) {
    emit("evicted_active", 0);
  }
  emit("evictions", store.evictions);
  emit("reclaimed", store.reclaimed);
  emit("crawler_reclaimed", store.crawler_reclaimed);
  emit("crawler_items_checked", store.crawler_items_checked);
  emit("lrutail_reflocked", 0);
  if (!segmented) {
    return;
  }
  for (const char* name : {"moves_to_cold", "moves_to_warm", "moves_within_lru"}) {
    emit(name, 0);
  }
  // Every eviction is made by the command that needs the room, as
  // memcached's direct reclaims are.
  emit("direct_reclaims", store.evictions);
  emit("lru_bumps_dropped", 0);  // no bump queue: a hit moves the item at once
}

void emitGeneral(ServerContext& ctx, Emitter& emit) {
  const RelTime now = ctx.clock.now();
  const spool::LoopStats t =
      ctx.transport_stats ? spool::total(ctx.transport_stats()) : spool::LoopStats{};
  emit("pid", getpid());
  emit("uptime", ctx.clock.uptime());
  emit("time", ctx.clock.toUnix(now));
  emit("version", kVersion);
  emit("libevent", spool::Transport::libeventVersion());
  emit("pointer_size", sizeof(void*) * 8);
  emit("rusage_user", rusage(true));
  emit("rusage_system", rusage(false));
  emit("max_connections", ctx.settings.max_connections);
  emit("curr_connections", ctx.connections.current());
  emit("total_connections", ctx.connections.total());
  emit("rejected_connections", t.connections_rejected);
  emit("connection_structures", ctx.connections.structures());
  emitConnectionInternals(emit);
  emitCounters(ctx, emit);
  emit("bytes_read", t.bytes_in);
  emit("bytes_written", t.bytes_out);
  emit("limit_maxbytes", ctx.store.memoryLimit());
  emit("accepting_conns", 1);
  emit("listen_disabled_num", 0);         // spoold never stops accepting (maxconns_fast)
  emit("time_in_listen_disabled_us", 0);
  emit("threads", ctx.settings.threads);
  emit("conn_yields", ctx.stats.get(Counter::kConnYields));
  emitInternals(ctx, emit);
  if (ctx.settings.tls) {  // memcached's place for them, with -Z only
    emit("ssl_handshake_errors", t.tls_failures);
    emit("time_since_server_cert_refresh", now - ctx.cert_refreshed_at.load());
  }
  emit("unexpected_napi_ids", 0);  // no NAPI IDs read
  emit("round_robin_fallback", 0);
  emitStore(ctx, emit);
  // spoold's own, after all of memcached's.
  emit("worker_threads", workerThreadsOf(ctx.settings));
  emit("exec_mode", ctx.settings.exec == ExecMode::kWorkers ? "workers" : "inline");
  emitTransport(ctx, emit);
}

/// memcached's -o internals: reported under its names, no effect in spoold.
void emitTuning(const MemcachedTuning& t, Emitter& emit) {
  emit("maxconns_fast", t.maxconns_fast ? "yes" : "no");
  emit("hashpower_init", t.hashpower_init);
  emit("slab_reassign", t.slab_reassign ? "yes" : "no");
  emit("slab_automove", t.slab_automove);
  emit("slab_automove_ratio", fmt::format("{:.2f}", t.slab_automove_ratio));
  emit("slab_automove_window", t.slab_automove_window);
}

void emitLruTuning(const MemcachedTuning& t, Emitter& emit) {
  emit("hash_algorithm", t.hash_algorithm);
  emit("lru_maintainer_thread", t.lru_maintainer_thread ? "yes" : "no");
  emit("lru_segmented", t.lru_maintainer_thread ? "yes" : "no");  // memcached ties them
  emit("hot_lru_pct", t.hot_lru_pct);
  emit("warm_lru_pct", t.warm_lru_pct);
  emit("hot_max_factor", fmt::format("{:.2f}", t.hot_max_factor));
  emit("warm_max_factor", fmt::format("{:.2f}", t.warm_max_factor));
  emit("temp_lru", t.temp_lru ? "yes" : "no");
  emit("temporary_ttl", t.temporary_ttl);
}

/// extstore's knobs, reported as by a memcached given no ext_path.
void emitExtstore(const ExtstoreTuning& e, Emitter& emit) {
  emit("ext_item_size", e.item_size);
  emit("ext_item_age", e.item_age);
  emit("ext_low_ttl", e.low_ttl);
  emit("ext_recache_rate", e.recache_rate);
  emit("ext_wbuf_size", e.wbuf_size);
  emit("ext_compact_under", e.compact_under);
  emit("ext_drop_under", e.drop_under);
  emit("ext_max_sleep", e.max_sleep);
  emit("ext_max_frag", fmt::format("{:.2f}", e.max_frag));
  emit("slab_automove_freeratio", fmt::format("{:.3f}", e.slab_automove_freeratio));
  emit("ext_drop_unread", e.drop_unread ? "yes" : "no");
}

void emitSettings(ServerContext& ctx, Emitter& emit) {
  const Settings& s = ctx.settings;
  emit("maxbytes", ctx.store.memoryLimit());  // cache_memlimit changes it
  emit("maxconns", s.max_connections);
  emit("tcpport", s.port);
  emit("udpport", 0);
  emit("inter", s.listen);
  emit("verbosity", ctx.verbosity.load());
  emit("evictions", s.evict ? "on" : "off");
  emit("domain_socket", s.unix_socket.empty() ? "NULL" : s.unix_socket);
  emit("umask", fmt::format("{:o}", s.unix_mask));
  emit("shutdown_command", s.shutdown_enabled ? "yes" : "no");
  emit("growth_factor", fmt::format("{:.2f}", s.growth_factor));
  emit("chunk_size", s.chunk_size);
  emit("num_threads", s.threads);
  emit("stat_key_prefix", s.prefix_delimiter);
  emit("detail_enabled", ctx.detail_enabled.load() ? "yes" : "no");
  emit("reqs_per_event", s.reqs_per_event);
  emit("cas_enabled", s.cas_enabled ? "yes" : "no");
  emit("tcp_backlog", s.backlog);
  emit("binding_protocol", s.binding == Binding::kAscii    ? "ascii"
                           : s.binding == Binding::kBinary ? "binary"
                                                           : "auto-negotiate");
  emit("auth_enabled_sasl", "no");
  emit("auth_enabled_ascii", s.auth_file.empty() ? "no" : s.auth_file);
  emit("item_size_max", s.item_size_max);
  emitTuning(s.tuning, emit);
  emit("slab_chunk_max", s.tuning.slab_chunk_max);
  emit("lru_crawler", ctx.maintainer.crawlerEnabled() ? "yes" : "no");  // lru_crawler enable|disable
  emit("lru_crawler_sleep", s.tuning.lru_crawler_sleep);
  emit("lru_crawler_tocrawl", s.tuning.lru_crawler_tocrawl);
  emit("tail_repair_time", s.tuning.tail_repair_time);
  emit("flush_enabled", s.flush_enabled ? "yes" : "no");
  emit("dump_enabled", s.dump_enabled ? "yes" : "no");
  emitLruTuning(s.tuning, emit);
  emit("idle_timeout", s.idle_timeout);
  emit("watcher_logbuf_size", s.tuning.watcher_logbuf_size);
  emit("worker_logbuf_size", s.tuning.worker_logbuf_size);
  emit("read_buf_mem_limit", s.tuning.read_buf_mem_limit);
  emit("track_sizes", "no");
  emit("inline_ascii_response", "no");
  emitExtstore(s.tuning.ext, emit);
  emit("ssl_handshake_timeout", s.ssl_handshake_timeout);
  emit("exec_mode", s.exec == ExecMode::kWorkers ? "workers" : "inline");
  emit("worker_threads", workerThreadsOf(s));
  emit("ssl_enabled", s.tls ? "yes" : "no");
  emit("ssl_chain_cert", s.ssl_chain_cert.empty() ? "(null)" : s.ssl_chain_cert);
  emit("ssl_key", s.ssl_key.empty() ? "(null)" : s.ssl_key);
  emit("ssl_verify_mode", reportedVerifyMode(s.ssl_verify_mode));
  emit("ssl_keyformat", s.ssl_keyformat);
  emit("ssl_ciphers", s.ssl_ciphers.empty() ? "NULL" : s.ssl_ciphers);
  emit("ssl_ca_cert", s.ssl_ca_cert.empty() ? "NULL" : s.ssl_ca_cert);
  emit("ssl_wbuf_size", s.ssl_wbuf_size);
  emit("ssl_session_cache", s.ssl_session_cache ? "yes" : "no");
  emit("ssl_kernel_tls", s.ssl_kernel_tls ? "yes" : "no");
  emit("ssl_min_version", s.ssl_min_version);
  if (s.num_napi_ids == 0) {
    emit("num_napi_ids", "(null)");
  } else {
    emit("num_napi_ids", s.num_napi_ids);
  }
  emit("memory_file", "(null)");   // -e is refused
}

void emitConns(ServerContext& ctx, Emitter& emit) {
  const RelTime now = ctx.clock.now();
  for (const auto& [id, entry] : ctx.connections.snapshot()) {
    // A Unix socket's clients are named "unix:<path>" by the transport.
    emit(fmt::format("{}:addr", id),
         entry.peer.starts_with("unix:") ? entry.peer : "tcp:" + entry.peer);
    emit(fmt::format("{}:state", id), "conn_parse_cmd");
    emit(fmt::format("{}:secs_since_open", id), now - entry.opened);
  }
}

}  // namespace

bool reportStats(ServerContext& ctx, std::string_view group, const StatSink& sink) {
  Emitter emit(sink);
  if (group.empty()) {
    emitGeneral(ctx, emit);
  } else if (group == "settings") {
    emitSettings(ctx, emit);
  } else if (group == "items") {
    reportItemStats(ctx, sink);
  } else if (group == "slabs") {
    reportSlabStats(ctx, sink);
  } else if (group == "conns") {
    emitConns(ctx, emit);
  } else {
    return false;
  }
  return true;
}

}  // namespace spoold
