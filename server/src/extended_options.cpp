#include "extended_options.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdint>

#include <fmt/format.h>

#include "numbers.h"

namespace spoold {
namespace {

/// Sub-options spoold refuses, and why: each changes what a client sees
/// (or where its data lives), and spoold cannot do it.
struct Refusal {
  std::string_view key;
  std::string_view why;
};
constexpr std::array kRefusals{
    Refusal{"ext_path", "extstore (external item storage) is not implemented"},
    Refusal{"slab_sizes", "custom slab class sizes are not implemented (-f and -n are)"},
    Refusal{"track_sizes", "`stats sizes` is not implemented"},
    Refusal{"no_maxconns_fast",
            "spoold always refuses a connection over -c at once (maxconns_fast); it cannot "
            "stop accepting and let clients wait"},
    Refusal{"sock_cookie_id",
            "socket cookies (SO_MARK) are not implemented, so firewall rules keyed on them "
            "would not apply"},
};

/// Why a sub-option that memcached accepts has no effect in spoold; said
/// once at -v (Settings::no_effect).
struct NoEffect {
  std::string_view key;
  std::string_view why;
};
constexpr std::array kNoEffect{
    NoEffect{"hashpower", "spoold's 64 shard tables size and grow themselves"},
    NoEffect{"no_hashexpand", "spoold's 64 shard tables size and grow themselves"},
    NoEffect{"tail_repair_time", "spoold has no item reference counts to repair"},
    NoEffect{"hash_algorithm", "spoold hashes keys with its own function"},
    NoEffect{"lru_crawler_sleep", "spoold's crawler is not paced: it crawls a shard under its lock"},
    NoEffect{"lru_crawler_tocrawl", "spoold's crawler is not paced: it crawls a shard under its lock"},
    NoEffect{"hot_lru_pct", "spoold has one LRU per shard, not memcached's segmented LRU"},
    NoEffect{"warm_lru_pct", "spoold has one LRU per shard, not memcached's segmented LRU"},
    NoEffect{"hot_max_factor", "spoold has one LRU per shard, not memcached's segmented LRU"},
    NoEffect{"warm_max_factor", "spoold has one LRU per shard, not memcached's segmented LRU"},
    NoEffect{"temporary_ttl", "spoold has one LRU per shard, not memcached's segmented LRU"},
    NoEffect{"slab_reassign", "spoold has no slab pages to move"},
    NoEffect{"no_slab_reassign", "spoold has no slab pages to move"},
    NoEffect{"slab_automove", "spoold has no slab pages to move"},
    NoEffect{"no_slab_automove", "spoold has no slab pages to move"},
    NoEffect{"slab_automove_ratio", "spoold has no slab pages to move"},
    NoEffect{"slab_automove_window", "spoold has no slab pages to move"},
    NoEffect{"slab_chunk_max", "spoold mallocs each item whole and never splits it into chunks"},
    NoEffect{"no_chunked_items", "spoold mallocs each item whole and never splits it into chunks"},
    NoEffect{"worker_logbuf_size", "spoold's watch log has one buffer per watcher, none per worker"},
    NoEffect{"read_buf_mem_limit",
             "spoold has no read buffer pool; it bounds each connection's queued input instead"},
    NoEffect{"resp_obj_mem_limit", "deprecated, unused by memcached 1.6.18 too"},
    NoEffect{"modern", "enables nothing in memcached 1.6.18 either"},
    NoEffect{"inline_ascii_resp", "ignored by memcached 1.6.18 too"},
    NoEffect{"no_inline_ascii_resp", "ignored by memcached 1.6.18 too"},
    NoEffect{"drop_privileges", "spoold has no seccomp sandbox"},
    NoEffect{"no_drop_privileges", "spoold has no seccomp sandbox"},
    NoEffect{"ext_",
             "extstore is not implemented; without ext_path memcached stores nothing "
             "externally either"},
    NoEffect{"slab_automove_freeratio",
             "extstore is not implemented; without ext_path memcached stores nothing "
             "externally either"},
};

bool parseUnsigned(std::string_view text, std::uint64_t min, std::uint64_t max, unsigned& out) {
  std::uint64_t value = 0;
  if (!parseU64(text, value) || value < min || value > max) {
    return false;
  }
  out = static_cast<unsigned>(value);
  return true;
}

bool parseDouble(std::string_view text, double min, double max, double& out) {
  double value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || value < min || value > max) {
    return false;
  }
  out = value;
  return true;
}

/// Sizes memcached takes in kilobytes (log buffers) or megabytes (read buffers).
bool parseScaled(std::string_view text, std::size_t unit, std::size_t& out) {
  unsigned value = 0;
  if (!parseUnsigned(text, 0, 1u << 20, value)) {
    return false;
  }
  out = static_cast<std::size_t>(value) * unit;
  return true;
}

/// Switches without a value that set a reported boolean.
struct Switch {
  std::string_view key;
  bool MemcachedTuning::*field;
  bool value;
};
constexpr std::array kSwitches{
    Switch{"maxconns_fast", &MemcachedTuning::maxconns_fast, true},
    Switch{"no_lru_maintainer", &MemcachedTuning::lru_maintainer_thread, false},
    Switch{"lru_maintainer", &MemcachedTuning::lru_maintainer_thread, true},
    Switch{"slab_reassign", &MemcachedTuning::slab_reassign, true},
    Switch{"no_slab_reassign", &MemcachedTuning::slab_reassign, false},
    Switch{"no_hashexpand", &MemcachedTuning::hash_expansion, false},
};

/// Switches that change nothing: memcached 1.6.18's "modern" enables
/// nothing yet and it ignores the inline ASCII response ones; its Debian
/// build has no seccomp privilege dropping.
constexpr std::array<std::string_view, 5> kNoOps{
    "modern", "inline_ascii_resp", "no_inline_ascii_resp", "drop_privileges", "no_drop_privileges"};

/// memcached 1.6.18's no_modern: its 1.4 defaults. Only the LRU crawler
/// switch acts in spoold; maxconns_fast stays (spoold cannot stop accepting).
void applyNoModern(Settings& s) {
  MemcachedTuning& t = s.tuning;
  if (!t.slab_chunk_max_given) {
    t.slab_chunk_max = 1u << 20;  // memcached's slab page
  }
  t.slab_reassign = false;
  t.slab_automove = 0;
  t.lru_maintainer_thread = false;
  t.hash_algorithm = "jenkins";
  s.lru_crawler = false;
}

/// extstore's knobs other than ext_path, as memcached parses them.
bool applyExtstore(std::string_view key, std::string_view v, ExtstoreTuning& e, bool& known) {
  known = true;
  unsigned scratch = 0;
  if (key == "ext_item_size") return parseUnsigned(v, 0, UINT32_MAX, e.item_size);
  if (key == "ext_item_age") return parseUnsigned(v, 0, UINT32_MAX, e.item_age);
  if (key == "ext_low_ttl") return parseUnsigned(v, 0, UINT32_MAX, e.low_ttl);
  if (key == "ext_recache_rate") return parseUnsigned(v, 0, UINT32_MAX, e.recache_rate);
  if (key == "ext_compact_under") return parseUnsigned(v, 0, UINT32_MAX, e.compact_under);
  if (key == "ext_drop_under") return parseUnsigned(v, 0, UINT32_MAX, e.drop_under);
  if (key == "ext_max_sleep") return parseUnsigned(v, 0, UINT32_MAX, e.max_sleep);
  if (key == "ext_wbuf_size") return parseScaled(v, 1u << 20, e.wbuf_size);
  if (key == "ext_max_frag") return parseDouble(v, 0, 1e9, e.max_frag);
  if (key == "slab_automove_freeratio") return parseDouble(v, 0, 1e9, e.slab_automove_freeratio);
  if (key == "ext_page_size" || key == "ext_threads" || key == "ext_io_depth") {
    return parseUnsigned(v, 0, UINT32_MAX, scratch);  // not reported by memcached
  }
  if (key == "ext_drop_unread") {
    e.drop_unread = true;
    return true;
  }
  known = false;
  return false;
}

/// Switches without a value. @return false when `key` is not one.
bool applySwitch(std::string_view key, MemcachedTuning& t) {
  for (const Switch& sw : kSwitches) {
    if (sw.key == key) {
      t.*sw.field = sw.value;
      return true;
    }
  }
  if (key == "no_slab_automove") {
    t.slab_automove = 0;
    return true;
  }
  if (key == "no_chunked_items") {
    t.slab_chunk_max = 1u << 20;  // memcached's slab page
    return true;
  }
  return std::find(kNoOps.begin(), kNoOps.end(), key) != kNoOps.end();
}

/// Knobs with a value. @return false when `key` is not one or `value` is bad.
bool applyValue(std::string_view key, std::string_view v, MemcachedTuning& t, bool& known) {
  known = true;
  if (key == "hashpower") return parseUnsigned(v, 12, 32, t.hashpower_init);
  if (key == "tail_repair_time") return parseUnsigned(v, 10, UINT32_MAX, t.tail_repair_time);
  if (key == "lru_crawler_sleep") return parseUnsigned(v, 0, 1'000'000, t.lru_crawler_sleep);
  if (key == "lru_crawler_tocrawl") return parseUnsigned(v, 0, UINT32_MAX, t.lru_crawler_tocrawl);
  if (key == "hot_lru_pct") return parseUnsigned(v, 1, 80, t.hot_lru_pct);
  if (key == "warm_lru_pct") return parseUnsigned(v, 1, 80, t.warm_lru_pct);
  if (key == "hot_max_factor") return parseDouble(v, 0.0001, 1e6, t.hot_max_factor);
  if (key == "warm_max_factor") return parseDouble(v, 0.0001, 1e6, t.warm_max_factor);
  if (key == "slab_automove" && v.empty()) {
    t.slab_automove = 1;  // memcached: a bare slab_automove is 1
    return true;
  }
  if (key == "slab_automove") return parseUnsigned(v, 0, 2, t.slab_automove);
  if (key == "slab_automove_ratio") return parseDouble(v, 0, 1, t.slab_automove_ratio);
  if (key == "slab_automove_window") return parseUnsigned(v, 0, UINT32_MAX, t.slab_automove_window);
  if (key == "watcher_logbuf_size") return parseScaled(v, 1024, t.watcher_logbuf_size);
  if (key == "worker_logbuf_size") return parseScaled(v, 1024, t.worker_logbuf_size);
  if (key == "read_buf_mem_limit") return parseScaled(v, 1u << 20, t.read_buf_mem_limit);
  if (key == "slab_chunk_max") {
    t.slab_chunk_max_given = true;
    unsigned bytes = 0;
    if (!parseUnsigned(v, 1, INT32_MAX, bytes)) {  // 0 would divide by zero in memcached
      return false;
    }
    t.slab_chunk_max = bytes;
    return true;
  }
  if (key == "temporary_ttl") {
    t.temp_lru = true;
    return parseUnsigned(v, 0, UINT32_MAX, t.temporary_ttl);
  }
  if (key == "hash_algorithm") {
    t.hash_algorithm = v;
    return v == "murmur3" || v == "jenkins" || v == "xxh3";
  }
  known = false;
  return false;
}

/// Records once that `key` is accepted and does nothing here.
void noteNoEffect(std::string_view key, Settings& s) {
  for (const NoEffect& n : kNoEffect) {
    if (key == n.key || (n.key.ends_with('_') && key.starts_with(n.key))) {
      addNoEffect(s, fmt::format("-o {}", key), n.why);
      return;
    }
  }
}

}  // namespace

void addNoEffect(Settings& s, std::string_view flag, std::string_view why) {
  std::string line = fmt::format("{}: no effect in spoold: {}", flag, why);
  if (std::find(s.no_effect.begin(), s.no_effect.end(), line) == s.no_effect.end()) {
    s.no_effect.push_back(std::move(line));
  }
}

bool applyTuningOption(std::string_view key, std::string_view value, Settings& s,
                       std::string& error) {
  for (const Refusal& r : kRefusals) {
    if (key == r.key) {
      error = "-o " + std::string(key) + ": " + std::string(r.why);
      return false;
    }
  }
  bool known = true;
  if (key == "no_modern") {
    applyNoModern(s);
    addNoEffect(s, "-o no_modern, but for the LRU crawler (off, as in memcached)",
                "its slab, LRU and hash settings are reported only, and spoold still refuses "
                "connections over -c at once (maxconns_fast)");
    return true;
  }
  if (key != "resp_obj_mem_limit" && !applySwitch(key, s.tuning) &&
      !applyValue(key, value, s.tuning, known) &&
      (known || !applyExtstore(key, value, s.tuning.ext, known))) {
    // (fmt, not operator+: GCC 12 at -O3 warns about "=" + std::string, a
    // false -Wrestrict that -Werror would make fatal.)
    error = known
                ? fmt::format("-o {}: invalid value '{}'", key, value)
                : fmt::format("Illegal suboption \"{}{}{}\"", key, value.empty() ? "" : "=", value);
    return false;
  }
  noteNoEffect(key, s);
  return true;
}

std::string checkTuning(const MemcachedTuning& t) {
  // memcached's own checks once every flag is read, in its words.
  if (t.hot_lru_pct + t.warm_lru_pct > 80) {
    return "hot_lru_pct + warm_lru_pct cannot be more than 80% combined";
  }
  if (t.temp_lru && !t.lru_maintainer_thread) {
    return "temporary_ttl requires lru_maintainer to be enabled";
  }
  return {};
}

}  // namespace spoold
