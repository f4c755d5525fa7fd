#include "options.h"

#include <getopt.h>

#include <cstdlib>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "extended_options.h"
#include "numbers.h"
#include "tls_options.h"

namespace spoold {
namespace {

enum LongOnly { kExec = 1000, kWorkers };

const option kLongOptions[] = {
    {"port", required_argument, nullptr, 'p'},
    {"listen", required_argument, nullptr, 'l'},
    {"threads", required_argument, nullptr, 't'},
    {"memory-limit", required_argument, nullptr, 'm'},
    {"disable-evictions", no_argument, nullptr, 'M'},
    {"conn-limit", required_argument, nullptr, 'c'},
    {"max-item-size", required_argument, nullptr, 'I'},
    {"udp-port", required_argument, nullptr, 'U'},
    {"user", required_argument, nullptr, 'u'},
    {"pidfile", required_argument, nullptr, 'P'},
    {"daemon", no_argument, nullptr, 'd'},
    {"lock-memory", no_argument, nullptr, 'k'},
    {"enable-coredumps", no_argument, nullptr, 'r'},
    {"disable-flush-all", no_argument, nullptr, 'F'},
    {"disable-cas", no_argument, nullptr, 'C'},
    {"disable-dumping", no_argument, nullptr, 'X'},
    {"disable-watch", no_argument, nullptr, 'W'},
    {"protocol", required_argument, nullptr, 'B'},
    {"enable-shutdown", no_argument, nullptr, 'A'},
    {"max-reqs-per-event", required_argument, nullptr, 'R'},
    {"auth-file", required_argument, nullptr, 'Y'},
    {"slab-growth-factor", required_argument, nullptr, 'f'},
    {"slab-min-size", required_argument, nullptr, 'n'},
    {"verbose", no_argument, nullptr, 'v'},
    {"help", no_argument, nullptr, 'h'},
    {"version", no_argument, nullptr, 'V'},
    {"enable-ssl", no_argument, nullptr, 'Z'},
    {"extended", required_argument, nullptr, 'o'},
    {"unix-socket", required_argument, nullptr, 's'},
    {"unix-mask", required_argument, nullptr, 'a'},
    {"listen-backlog", required_argument, nullptr, 'b'},
    {"enable-sasl", no_argument, nullptr, 'S'},
    {"memory-file", required_argument, nullptr, 'e'},
    {"enable-largepages", no_argument, nullptr, 'L'},
    {"napi-ids", required_argument, nullptr, 'N'},
    {"license", no_argument, nullptr, 'i'},
    {"exec", required_argument, nullptr, kExec},
    {"workers", required_argument, nullptr, kWorkers},
    {nullptr, 0, nullptr, 0},
};

/// "64", "512k", "2m", "1g" in bytes.
bool parseSize(std::string_view text, std::size_t& out) {
  std::size_t multiplier = 1;
  if (!text.empty()) {
    switch (text.back()) {
      case 'k': case 'K': multiplier = 1u << 10; break;
      case 'm': case 'M': multiplier = 1u << 20; break;
      case 'g': case 'G': multiplier = 1u << 30; break;
      default: break;
    }
    if (multiplier != 1) {
      text.remove_suffix(1);
    }
  }
  std::uint64_t value = 0;
  if (text.empty() || !parseU64(text, value)) {
    return false;
  }
  out = value * multiplier;
  return true;
}

/// -m: megabytes, or a size with a k/m/g suffix.
bool parseMegabytes(std::string_view text, std::size_t& out) {
  const bool plain = !text.empty() && text.back() >= '0' && text.back() <= '9';
  std::size_t size = 0;
  if (!parseSize(text, size) || size == 0) {
    return false;
  }
  out = plain ? size << 20 : size;
  return true;
}

bool parseCount(const char* text, unsigned min, unsigned& out) {
  std::uint64_t value = 0;
  if (!parseU64(text, value) || value < min || value > 1'000'000) {
    return false;
  }
  out = static_cast<unsigned>(value);
  return true;
}

/// -l, as memcached: the first replaces the default, later ones are added
/// to the list (an address already in it is not added again).
bool addListen(std::string_view arg, Settings& s) {
  if (arg.empty()) {
    return false;
  }
  if (!s.listen_given) {
    s.listen = arg;
  } else if (s.listen.find(arg) == std::string::npos) {
    s.listen += ',';
    s.listen += arg;
  }
  s.listen_given = true;
  return true;
}

/// -a: an octal mode such as 0766 or 700.
bool parseOctalMask(std::string_view text, unsigned& out) {
  if (text.empty() || text.size() > 5 ||
      text.find_first_not_of("01234567") != std::string_view::npos) {
    return false;
  }
  out = 0;
  for (const char c : text) {
    out = out * 8 + static_cast<unsigned>(c - '0');
  }
  return out <= 07777;
}

/// -B ascii|binary|auto, in memcached's words when it is none of them.
bool parseBinding(std::string_view text, Binding& out, std::string& why) {
  if (text == "auto") {
    out = Binding::kAuto;
  } else if (text == "ascii") {
    out = Binding::kAscii;
  } else if (text == "binary") {
    out = Binding::kBinary;
  } else {
    why = "Invalid value for binding protocol: " + std::string(text) + "\n -- should be one of auto, binary, or ascii";
    return false;
  }
  return true;
}

/// -R: requests a connection runs per turn before it yields.
bool parseReqsPerEvent(const char* text, unsigned& out, std::string& why) {
  std::uint64_t n = 0;
  if (!parseU64(text, n) || n == 0 || n > UINT32_MAX) {
    why = "Number of requests per event must be greater than 0";
    return false;
  }
  out = static_cast<unsigned>(n);
  return true;
}

/// -f: memcached's words for a factor that is not above 1.
bool parseFactor(const char* text, double& out, std::string& why) {
  char* end = nullptr;
  const double factor = std::strtod(text, &end);
  if (end == text || *end != '\0' || !(factor > 1.0) || factor > 100.0) {
    why = "Factor must be greater than 1";
    return false;
  }
  out = factor;
  return true;
}

/// -n: bytes of key+value+flags in the smallest slab class.
bool parseChunkSize(const char* text, std::size_t& out, std::string& why) {
  std::uint64_t size = 0;
  if (!parseU64(text, size) || size == 0 || size > (1u << 20)) {
    why = "Chunk size must be greater than 0";
    return false;
  }
  out = static_cast<std::size_t>(size);
  return true;
}

/// -o key=value,... : the TLS keys, the timeouts, the LRU crawler switch;
/// the rest in extended_options.cpp. `why` explains a refusal.
bool parseExtended(std::string_view list, Settings& s, std::string& why) {
  while (!list.empty()) {
    const std::size_t comma = list.find(',');
    const std::string_view item = list.substr(0, comma);
    list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
    const std::size_t eq = item.find('=');
    const std::string_view key = item.substr(0, eq);
    const std::string value(eq == std::string_view::npos ? std::string_view{} : item.substr(eq + 1));
    if (key.starts_with("ssl_") && key != "ssl_handshake_timeout") {
      if (!applyTlsOption(key, value, s, why)) {
        return false;
      }
    } else if (key == "idle_timeout" || key == "ssl_handshake_timeout") {
      std::uint64_t seconds = 0;
      if (!parseU64(value, seconds) || seconds > 86400 * 365) {
        return false;
      }
      (key == "idle_timeout" ? s.idle_timeout : s.ssl_handshake_timeout) = static_cast<unsigned>(seconds);
    } else if (key == "no_lru_crawler") {
      s.lru_crawler = false;
    } else if (key == "lru_crawler") {
      s.lru_crawler = true;
    } else if (!key.empty() && !applyTuningOption(key, value, s, why)) {
      return false;
    }
  }
  return true;
}

/// memcached 1.6.18 flags that spoold refuses by name rather than accept and
/// ignore (server/README.md has the full table).
struct RefusedFlag {
  int opt;
  std::string_view why;
};
constexpr RefusedFlag kRefusedFlags[] = {
    {'S', "-S: binary protocol SASL authentication is not implemented (-Y: ASCII authentication is)"},
    {'e', "-e: a restartable item memory file is not implemented"},
    {'i', "-i: spoold prints no license texts"},
};

void refused(int opt, std::string& why) {
  for (const RefusedFlag& flag : kRefusedFlags) {
    if (flag.opt == opt) {
      why = flag.why;
    }
  }
}

/// Applies one flag. @return false for a bad value; `why` then says what is
/// wrong when the usage text alone would not.
bool applyOption(int opt, const char* arg, Settings& s, std::string& why) {
  std::uint64_t number = 0;
  switch (opt) {
    case 'p': if (!parseU64(arg, number) || number > 65535) return false; s.port = static_cast<std::uint16_t>(number); return true;
    case 'l': return addListen(arg, s);
    case 't': return parseCount(arg, 1, s.threads);
    case 'm': return parseMegabytes(arg, s.memory_limit);
    case 'M': s.evict = false; return true;
    case 'c': return parseCount(arg, 1, s.max_connections);
    case 'I': return parseSize(arg, s.item_size_max);  // checked once all flags are read
    case 'U':
      if (parseU64(arg, number) && number != 0) {
        why = "UDP is not supported: -U must be 0 (off)";
      }
      return parseU64(arg, number) && number == 0;
    case 's': s.unix_socket = arg; return !s.unix_socket.empty();
    case 'a': return parseOctalMask(arg, s.unix_mask);
    case 'b':
      if (!parseU64(arg, number) || number < 1 || number > 1'000'000) return false;
      s.backlog = static_cast<int>(number);
      return true;
    case 'u': s.user = arg; return !s.user.empty();
    case 'P': s.pid_file = arg; return !s.pid_file.empty();
    case 'd': s.daemonize = true; return true;
    case 'k': s.lock_memory = true; return true;
    case 'r': s.max_core = true; return true;
    case 'F': s.flush_enabled = false; return true;
    case 'C': s.cas_enabled = false; return true;
    case 'X': s.dump_enabled = false; return true;
    case 'W': s.watch_enabled = false; return true;
    case 'B': return parseBinding(arg, s.binding, why);
    case 'A': s.shutdown_enabled = true; return true;
    case 'R': return parseReqsPerEvent(arg, s.reqs_per_event, why);
    case 'Y': s.auth_file = arg; return !s.auth_file.empty();
    case 'D':
      if (arg[0] == '\0') {
        why = "No delimiter specified";
        return false;
      }
      s.prefix_delimiter = arg[0];
      s.detail_enabled = true;
      return true;
    case 'f': return parseFactor(arg, s.growth_factor, why);
    case 'n': return parseChunkSize(arg, s.chunk_size, why);
    case 'v': ++s.verbose; return true;
    case 'L':
      addNoEffect(
          s, "-L",
          "spoold does not preallocate item memory, so it has nothing to put in large pages");
      return true;
    case 'N':
      if (!parseU64(arg, number) || number == 0 || number > 1'000'000) {
        why = "Maximum number of NAPI IDs must be greater than 0";
        return false;
      }
      s.num_napi_ids = static_cast<unsigned>(number);
      addNoEffect(s, "-N", "spoold does not pick a connection's thread by its NAPI ID");
      return true;
    case 'Z': s.tls = true; return true;
    case 'o': return parseExtended(arg, s, why);
    case kExec:
      if (std::string_view(arg) == "inline") { s.exec = ExecMode::kInline; return true; }
      if (std::string_view(arg) == "workers") { s.exec = ExecMode::kWorkers; return true; }
      return false;
    case kWorkers: return parseCount(arg, 1, s.workers);
    default: refused(opt, why); return false;  // `why` is empty for a flag nobody knows
  }
}

}  // namespace

void printUsage(std::ostream& out) {
  out << "spoold " << kVersion << " - a memcached-compatible server built on spool\n"
      << "-p, --port=<num>          TCP port to listen on (default: 11211)\n"
      << "-l, --listen=<addr>       interfaces, comma separated, each <addr>[:<port>]\n"
      << "                          (default: 127.0.0.1); with -Z, notls:<addr>:<port>\n"
      << "                          listens without TLS\n"
      << "-t, --threads=<num>       number of event loop threads (default: 4)\n"
      << "-m, --memory-limit=<mb>   item memory in megabytes (default: 64)\n"
      << "-M, --disable-evictions   return error on memory exhausted instead of evicting\n"
      << "-c, --conn-limit=<num>    max simultaneous connections (default: 1024)\n"
      << "-I, --max-item-size=<sz>  max item size, with k/m suffix (default: 1m, min 1k, max 1g)\n"
      << "-U, --udp-port=<num>      UDP port; only 0 (off) is supported\n"
      << "-s, --unix-socket=<file>  UNIX socket to listen on (disables network support)\n"
      << "-a, --unix-mask=<mask>    access mask for UNIX socket, in octal (default: 700)\n"
      << "-b, --listen-backlog=<n>  the backlog queue limit (default: 1024)\n"
      << "-u, --user=<name>         once listening, assume the identity of <name> (required as root)\n"
      << "-Y, --auth-file=<file>    ASCII authentication: clients first send `set <any> 0 0 <len>`\n"
      << "                          with `<user> <password>` from <file>'s user:password lines\n"
      << "-A, --enable-shutdown     enable ascii \"shutdown\" (and \"shutdown graceful\") command\n"
      << "-d, --daemon              run as a daemon\n"
      << "-r, --enable-coredumps    maximize core file limit\n"
      << "-k, --lock-memory         lock down all paged memory (mlockall; a warning if refused)\n"
      << "-L, --enable-largepages   accepted, no effect (spoold preallocates no item memory)\n"
      << "-N, --napi-ids=<num>      accepted, reported, no effect (no NAPI ID thread choice)\n"
      << "-f, --slab-growth-factor=<num> chunk size growth factor of the slab classes spoold\n"
      << "                          reports (stats items/slabs, cls=) (default: 1.25)\n"
      << "-n, --slab-min-size=<bytes> min space for key+value+flags of the smallest class (default: 48)\n"
      << "-B, --protocol=<name>     protocol - one of ascii, binary, or auto (default: auto-negotiate)\n"
      << "-D <char>                 per-prefix stats (stats detail dump) on, keys split at <char>\n"
      << "-R, --max-reqs-per-event=<num> requests a connection runs before others get a turn\n"
      << "                          (default: 20; counted in stats conn_yields)\n"
      << "-C, --disable-cas         disable use of CAS (every CAS value is 0)\n"
      << "-F, --disable-flush-all   disable flush_all command\n"
      << "-X, --disable-dumping     disable stats cachedump and lru_crawler metadump\n"
      << "-W, --disable-watch       disable watch commands\n"
      << "-P, --pidfile=<file>      save the pid in <file> (with or without -d, as memcached)\n"
      << "-v, --verbose             verbose (print errors/warnings); -vv: also client commands\n"
      << "-h, --help                print this help and exit\n"
      << "-V, --version             print version and exit\n"
      << "-Z, --enable-ssl          TLS on all ports (needs -o ssl_chain_cert=,ssl_key=)\n"
      << "-o, --extended=<opts>     comma separated: ssl_chain_cert=, ssl_key=, ssl_ca_cert=,\n"
      << "                          ssl_verify_mode=0|1|2|3 (none, request, require, once),\n"
      << "                          ssl_ciphers=, ssl_min_version=2|3 (tlsv1.2, tlsv1.3),\n"
      << "                          ssl_keyformat=1 (PEM), ssl_wbuf_size=, ssl_session_cache,\n"
      << "                          no_lru_crawler,\n"
      << "                          idle_timeout=<seconds> (close clients idle that long),\n"
      << "                          ssl_handshake_timeout=<seconds> (default 10; 0: none);\n"
      << "                          memcached's tuning options (hashpower, lru_crawler_sleep,\n"
      << "                          slab_chunk_max, no_modern, ext_* but ext_path, ...) are\n"
      << "                          accepted and reported by stats settings with no effect\n"
      << "                          (-v says which): see docs/memcached-flags.md\n"
      << "    --exec=inline|workers where commands run: on the loop thread (default) or on a\n"
      << "                          worker pool that sends each response itself\n"
      << "    --workers=<num>       worker threads for --exec=workers (default: one per -t\n"
      << "                          thread, at most the cores the loops leave free, at least 1)\n";
}

namespace {

/// memcached's checks of -N, -I and slab_chunk_max once every flag is read,
/// in its order and words; its slab page is 1 MiB. A memcached that starts
/// has a valid combination, so spoold starts with it too.
/// @return the message, empty when the combination is valid.
std::string checkSizes(Settings& s) {
  constexpr std::size_t kSlabPage = 1u << 20;
  MemcachedTuning& t = s.tuning;
  if (s.num_napi_ids > s.threads) {
    return fmt::format("Number of napi_ids({}) cannot be greater than number of threads({})",
                       s.num_napi_ids, s.threads);
  }
  const std::size_t item = s.item_size_max;
  if (item < 1024) {
    return "Item max size cannot be less than 1024 bytes.";
  }
  if (item > s.memory_limit / 2) {
    return "Cannot set item size limit higher than 1/2 of memory max.";
  }
  if (item > (1u << 30)) {
    return "Cannot set item size limit higher than a gigabyte.";
  }
  if (item > kSlabPage && !t.slab_chunk_max_given) {
    t.slab_chunk_max = kSlabPage / 2;
  }
  if (t.slab_chunk_max > item) {
    return fmt::format("slab_chunk_max (bytes: {}) cannot be larger than -I (item_size_max {})",
                       t.slab_chunk_max, item);
  }
  if (item % t.slab_chunk_max != 0) {
    return fmt::format(
        "-I (item_size_max: {}) must be evenly divisible by slab_chunk_max (bytes: {})", item,
        t.slab_chunk_max);
  }
  if (kSlabPage % t.slab_chunk_max != 0) {
    return fmt::format("slab_chunk_max (bytes: {}) must divide evenly into {} (slab_page_size)",
                       t.slab_chunk_max, kSlabPage);
  }
  return {};
}

/// A bad flag: the reason when there is one, else the usage text.
void refuse(const std::string& flag, const std::string& why, std::ostream& err) {
  if (!why.empty()) {
    err << "spoold: " << why << "\n";
    return;
  }
  err << "spoold: invalid or incomplete option '" << flag << "'\n";
  printUsage(err);
}

}  // namespace

CommandLine parseCommandLine(int argc, char** argv, std::ostream& out, std::ostream& err) {
  CommandLine result;
  optind = 0;  // glibc: start over (the tests parse more than once)
  opterr = 0;
  for (;;) {
    const int opt = getopt_long(argc, argv, ":p:l:t:m:Mc:I:U:u:P:dkrFCXWB:AR:Y:D:f:n:vhVZo:s:a:b:Se:LN:i", kLongOptions, nullptr);
    if (opt == -1) {
      break;
    }
    if (opt == 'h' || opt == 'V') {
      opt == 'h' ? printUsage(out) : void(out << "spoold " << kVersion << "\n");
      return result;
    }
    std::string why;
    if (opt == '?' || opt == ':' || !applyOption(opt, optarg, result.settings, why)) {
      refuse(argv[optind - 1], why, err);
      result.exit_code = 2;
      return result;
    }
  }
  if (optind < argc) {
    err << "spoold: unexpected argument '" << argv[optind] << "'\n";
    printUsage(err);
    result.exit_code = 2;
    return result;
  }
  if (const std::string why = checkSizes(result.settings); !why.empty()) {
    err << why << "\n";  // memcached's words and status (EX_USAGE)
    result.exit_code = 64;
    return result;
  }
  const Settings& s = result.settings;
  if (const std::string why = checkTuning(s.tuning); !why.empty()) {
    err << "spoold: " << why << "\n";
    result.exit_code = 2;
    return result;
  }
  if (s.tls && (s.ssl_chain_cert.empty() || s.ssl_key.empty())) {
    err << "spoold: -Z needs -o ssl_chain_cert=<file>,ssl_key=<file>\n";
    result.exit_code = 2;
    return result;
  }
  std::vector<ListenAddress> addresses;
  std::string listen_error;
  if (!parseListenList(s.listen, s.port, s.tls, addresses, listen_error)) {
    err << "spoold: -l " << s.listen << ": " << listen_error << "\n";
    result.exit_code = 2;
    return result;
  }
  result.run = true;
  return result;
}

}  // namespace spoold
