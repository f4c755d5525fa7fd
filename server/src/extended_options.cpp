#include "extended_options.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdint>

#include <fmt/format.h>

#include "numbers.h"

namespace spoold {
namespace {

/// Sub-options spoold refuses, and why: memcached would change behaviour a
/// user relies on, and spoold has nothing to change.
struct Refusal {
  std::string_view key;
  std::string_view why;
};
constexpr std::array kRefusals{
    Refusal{"ext_", "extstore (external item storage) is not implemented"},
    Refusal{"slab_automove_freeratio", "extstore (external item storage) is not implemented"},
    Refusal{"slab_chunk_max", "spoold allocates no slab chunks; items are not split"},
    Refusal{"slab_sizes", "custom slab class sizes are not implemented (-f and -n are)"},
    Refusal{"track_sizes", "`stats sizes` is not implemented"},
    Refusal{"no_maxconns_fast",
            "spoold always refuses a connection over -c at once (maxconns_fast)"},
    Refusal{"no_modern", "memcached 1.4's defaults are not emulated"},
    Refusal{"sock_cookie_id", "socket cookies (SO_MARK) are not implemented"},
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
/// build has no seccomp privilege dropping; spoold never chunks items.
constexpr std::array<std::string_view, 6> kNoOps{
    "modern",          "inline_ascii_resp",  "no_inline_ascii_resp",
    "drop_privileges", "no_drop_privileges", "no_chunked_items"};

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
  if (key == "slab_automove") return parseUnsigned(v, 0, 2, t.slab_automove);
  if (key == "slab_automove_ratio") return parseDouble(v, 0, 1, t.slab_automove_ratio);
  if (key == "slab_automove_window") return parseUnsigned(v, 0, UINT32_MAX, t.slab_automove_window);
  if (key == "watcher_logbuf_size") return parseScaled(v, 1024, t.watcher_logbuf_size);
  if (key == "worker_logbuf_size") return parseScaled(v, 1024, t.worker_logbuf_size);
  if (key == "read_buf_mem_limit") return parseScaled(v, 1u << 20, t.read_buf_mem_limit);
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

}  // namespace

bool applyTuningOption(std::string_view key, std::string_view value, Settings& s,
                       std::string& error) {
  for (const Refusal& r : kRefusals) {
    if (key.starts_with(r.key)) {
      error = "-o " + std::string(key) + ": " + std::string(r.why);
      return false;
    }
  }
  if (key == "resp_obj_mem_limit") {
    return true;  // memcached 1.6.18: "DEPRECATED ... no longer used"
  }
  if (applySwitch(key, s.tuning)) {
    return true;
  }
  bool known = false;
  if (applyValue(key, value, s.tuning, known)) {
    return true;
  }
  // (fmt, not operator+: GCC 12 at -O3 warns about "=" + std::string, a
  // false -Wrestrict that -Werror would make fatal.)
  error = known ? fmt::format("-o {}: invalid value '{}'", key, value)
                : fmt::format("Illegal suboption \"{}{}{}\"", key, value.empty() ? "" : "=", value);
  return false;
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
