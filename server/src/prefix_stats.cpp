#include "prefix_stats.h"

#include <cstring>

#include <fmt/format.h>

namespace spoold {

std::uint32_t murmur3_32(std::string_view data) noexcept {
  constexpr std::uint32_t c1 = 0xcc9e2d51;
  constexpr std::uint32_t c2 = 0x1b873593;
  const auto rotl = [](std::uint32_t x, int r) { return (x << r) | (x >> (32 - r)); };
  std::uint32_t h = 0;
  const std::size_t blocks = data.size() / 4;
  for (std::size_t i = 0; i < blocks; ++i) {
    std::uint32_t k = 0;
    std::memcpy(&k, data.data() + i * 4, 4);  // little-endian, as memcached on x86
    k = rotl(k * c1, 15) * c2;
    h = rotl(h ^ k, 13) * 5 + 0xe6546b64;
  }
  std::uint32_t k = 0;
  const auto* tail = reinterpret_cast<const unsigned char*>(data.data() + blocks * 4);
  switch (data.size() & 3) {
    case 3: k ^= static_cast<std::uint32_t>(tail[2]) << 16; [[fallthrough]];
    case 2: k ^= static_cast<std::uint32_t>(tail[1]) << 8; [[fallthrough]];
    case 1:
      k ^= tail[0];
      h ^= rotl(k * c1, 15) * c2;
      break;
    default: break;
  }
  h ^= static_cast<std::uint32_t>(data.size());
  h ^= h >> 16;
  h *= 0x85ebca6b;
  h ^= h >> 13;
  h *= 0xc2b2ae35;
  h ^= h >> 16;
  return h;
}

PrefixStats::Entry* PrefixStats::findLocked(std::string_view key) {
  const std::size_t end = key.find(delimiter_);
  if (end == std::string_view::npos) {
    return nullptr;
  }
  const std::string_view prefix = key.substr(0, end);
  auto& bucket = buckets_[murmur3_32(prefix) % buckets_.size()];
  for (Entry& entry : bucket) {
    if (entry.prefix == prefix) {
      return &entry;
    }
  }
  bucket.push_back(Entry{std::string(prefix)});
  return &bucket.back();
}

void PrefixStats::recordGet(std::string_view key, bool hit) {
  std::lock_guard lock(mutex_);
  if (Entry* e = findLocked(key)) {
    ++e->gets;
    e->hits += hit ? 1 : 0;
  }
}

void PrefixStats::recordSet(std::string_view key) {
  std::lock_guard lock(mutex_);
  if (Entry* e = findLocked(key)) {
    ++e->sets;
  }
}

void PrefixStats::recordDelete(std::string_view key) {
  std::lock_guard lock(mutex_);
  if (Entry* e = findLocked(key)) {
    ++e->deletes;
  }
}

std::string PrefixStats::dump() const {
  std::string out;
  std::lock_guard lock(mutex_);
  for (const auto& bucket : buckets_) {
    for (auto it = bucket.rbegin(); it != bucket.rend(); ++it) {  // memcached prepends
      fmt::format_to(std::back_inserter(out), "PREFIX {} get {} hit {} set {} del {}\r\n",
                     it->prefix, it->gets, it->hits, it->sets, it->deletes);
    }
  }
  out += "END\r\n";
  return out;
}

void PrefixStats::clear() {
  std::lock_guard lock(mutex_);
  for (auto& bucket : buckets_) {
    bucket.clear();
  }
}

}  // namespace spoold
