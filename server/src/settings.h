// spoold's configuration, from memcached-style command-line flags.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "spool/version.h"

namespace spoold {

/// memcached's -B: which protocols a connection may speak.
enum class Binding : std::uint8_t { kAuto, kAscii, kBinary };

/// memcached's extstore sub-options other than ext_path (which enables
/// extstore and is refused): without a path memcached runs no extstore
/// either, but reports them in `stats settings`. Names and defaults are
/// memcached 1.6.18's.
struct ExtstoreTuning {
  unsigned item_size = 512;
  unsigned item_age = UINT32_MAX;
  unsigned low_ttl = 0;
  unsigned recache_rate = 2000;
  std::size_t wbuf_size = 4u << 20;  ///< ext_wbuf_size=<MB>
  unsigned compact_under = 0;
  unsigned drop_under = 0;
  unsigned max_sleep = 1'000'000;
  double max_frag = 0.8;
  double slab_automove_freeratio = 0.01;
  bool drop_unread = false;
};

/// memcached's -o tuning sub-options that change only memcached's own
/// internals (hash table, LRU maintainer, slab mover, log buffers). spoold's
/// store has no equivalent: they are validated, reported by `stats settings`
/// under memcached's names and defaults, and have no effect (see
/// server/README.md, "memcached's flags").
struct MemcachedTuning {
  bool maxconns_fast = true;
  unsigned hashpower_init = 0;
  bool slab_reassign = true;
  unsigned slab_automove = 1;
  double slab_automove_ratio = 0.8;
  unsigned slab_automove_window = 30;
  unsigned lru_crawler_sleep = 100;
  unsigned lru_crawler_tocrawl = 0;
  unsigned tail_repair_time = 0;
  std::string hash_algorithm = "murmur3";
  bool lru_maintainer_thread = true;
  unsigned hot_lru_pct = 20;
  unsigned warm_lru_pct = 40;
  double hot_max_factor = 0.2;
  double warm_max_factor = 2.0;
  bool temp_lru = false;
  unsigned temporary_ttl = 61;
  std::size_t watcher_logbuf_size = 256u << 10;
  std::size_t worker_logbuf_size = 64u << 10;
  std::size_t read_buf_mem_limit = 0;
  bool hash_expansion = true;
  /// -o slab_chunk_max=<bytes> (1.6.18 reads bytes, whatever its help says);
  /// memcached's default is half its 1 MiB slab page, and no_modern and
  /// no_chunked_items make it the whole page.
  std::size_t slab_chunk_max = 512u << 10;
  bool slab_chunk_max_given = false;  ///< -o slab_chunk_max: no_modern and -I leave it
  ExtstoreTuning ext;
};

/// Where commands run.
enum class ExecMode : std::uint8_t {
  kInline,   ///< on the connection's loop thread, like memcached
  kWorkers,  ///< on a worker pool; responses are sent from the worker thread
};

struct Settings {
  std::uint16_t port = 11211;          ///< -p
  std::string listen = "127.0.0.1";    ///< -l
  unsigned threads = 4;                ///< -t: loop threads
  std::size_t memory_limit = 64u << 20;///< -m (megabytes on the command line)
  bool evict = true;                   ///< -M turns it off: a full cache refuses stores
  unsigned max_connections = 1024;     ///< -c
  std::size_t item_size_max = 1u << 20;///< -I
  int verbose = 0;                     ///< -v, -vv, -vvv
  ExecMode exec = ExecMode::kInline;   ///< --exec
  /// --workers: the worker pool's threads; 0 (the default) lets
  /// workerCount() choose.
  unsigned workers = 0;
  bool lru_crawler = true;             ///< -o no_lru_crawler turns it off
  unsigned idle_timeout = 0;           ///< -o idle_timeout=<s>: close idle clients (0: never)
  /// -o ssl_handshake_timeout=<s>: with -Z, abort a client whose TLS
  /// handshake has not completed this long after it connected (0: never).
  unsigned ssl_handshake_timeout = 10;
  /// Input bytes a connection may have queued and not yet executed before its
  /// loop stops reading it (workers mode, or behind a metadump or a response
  /// parked on backpressure); reading resumes once a quarter of it is left.
  /// 256 KiB is thousands of pipelined requests, so a runner never waits for
  /// input (1 M pipelined sets took the same time as with 4 MiB), and what a
  /// client that never reads makes the server hold stays near memcached's
  /// (bench/unread_flood.py: RSS growth 13 MB with 4 MiB, 4 MB with this).
  std::size_t queued_input_limit = 256u << 10;
  // TLS (-Z with -o ssl_*), as memcached.
  bool tls = false;
  std::string ssl_chain_cert;
  std::string ssl_key;
  std::string ssl_ca_cert;
  int ssl_verify_mode = 0;       ///< 0 none, 1 request, 2 require, 3 once (= require)
  std::string ssl_ciphers;       ///< TLS 1.2 cipher list, OpenSSL syntax
  std::string ssl_min_version = "tlsv1.2";  ///< tlsv1.2 or tlsv1.3
  int ssl_keyformat = 1;                    ///< OpenSSL's SSL_FILETYPE_PEM; the only one served
  std::size_t ssl_wbuf_size = 16u << 10;  ///< -o ssl_wbuf_size=<KiB>: only 16 (spool's record size)
  bool ssl_session_cache = false;         ///< -o ssl_session_cache (spool always resumes sessions)
  bool ssl_kernel_tls = false;            ///< -o ssl_kernel_tls: reported, spool never offloads
  // Listening (memcached's -s, -a, -b).
  std::string unix_socket;    ///< -s <path>: listen there only, no TCP
  unsigned unix_mask = 0700;  ///< -a <octal>: the socket file's mode
  int backlog = 1024;         ///< -b: listen backlog
  bool listen_given = false;  ///< a -l was seen: later ones add to `listen`, as in memcached
  // The rest of memcached 1.6.18's flags (issue 12); see server/README.md.
  std::string user;                 ///< -u: run as this user once bound (required as root)
  bool daemonize = false;           ///< -d
  std::string pid_file;             ///< -P
  bool lock_memory = false;         ///< -k: mlockall
  bool max_core = false;            ///< -r: raise the core file limit to its maximum
  bool flush_enabled = true;        ///< -F turns flush_all off
  bool cas_enabled = true;          ///< -C turns CAS off (every CAS value is 0)
  bool dump_enabled = true;         ///< -X turns cachedump and metadump off
  bool shutdown_enabled = false;    ///< -A: the `shutdown` command stops the server
  bool watch_enabled = true;        ///< -W turns `watch` off
  Binding binding = Binding::kAuto; ///< -B
  unsigned reqs_per_event = 20;     ///< -R: commands per turn before a connection yields
  double growth_factor = 1.25;      ///< -f: slab class growth factor
  std::size_t chunk_size = 48;      ///< -n: minimum key+value+flags space of a slab chunk
  std::string auth_file;            ///< -Y: ASCII authentication, user:password lines
  char prefix_delimiter = ':';      ///< -D: per-prefix stats split keys here
  bool detail_enabled = false;      ///< -D turns per-prefix stats on (`stats detail on|off` too)
  MemcachedTuning tuning;           ///< -o internals with no effect in spoold
  unsigned num_napi_ids = 0;        ///< -N: reported, no effect (0: "(null)")
  /// One line per flag given that spoold accepts, reports and ignores,
  /// saying why; printed once at start-up with -v.
  std::vector<std::string> no_effect;
};

/// The worker pool's size: --workers when given; otherwise one worker per
/// loop thread, but no more than the cores the loops leave free, and at
/// least one. Threads beyond the cores only add wake-ups and context
/// switches: on 2 cores with -t 2, binary gets (50 x 16) per server CPU-second
/// were 0.80x memcached's with 4 workers, 0.82x with 2 and 1.05-1.09x with 1,
/// and at 50 k requests/s p99 went from 0.63-0.75 ms (2 workers) to 0.32-0.34
/// ms (1) (docs/benchmarks.md). `cores`: std::thread::hardware_concurrency(),
/// 0 when unknown (then one per loop thread).
constexpr unsigned workerCount(unsigned requested, unsigned loops, unsigned cores) noexcept {
  if (requested != 0) {
    return requested;
  }
  if (cores == 0) {
    return loops;
  }
  const unsigned spare = cores > loops ? cores - loops : 0;
  return spare == 0 ? 1 : (spare < loops ? spare : loops);
}

/// The worker threads `s` runs on this machine: workerCount() in workers
/// mode, 0 inline. What the pool is built with and what `stats` reports.
inline unsigned workerThreadsOf(const Settings& s) {
  return s.exec == ExecMode::kWorkers ? workerCount(s.workers, s.threads, std::thread::hardware_concurrency()) : 0;
}

/// The version spoold reports: the memcached protocol level it follows, then
/// spool's (the project's one version, from CMake).
inline constexpr const char* kVersion = "1.6.18-spoold-" SPOOL_VERSION;

}  // namespace spoold
