#include "server_context.h"

namespace spoold {

void ConnectionRegistry::add(std::uint64_t id, std::string peer, RelTime now) {
  std::lock_guard lock(mutex_);
  entries_.emplace(id, Entry{std::move(peer), now});
  current_.store(entries_.size(), std::memory_order_relaxed);
  total_.fetch_add(1, std::memory_order_relaxed);
  if (entries_.size() > peak_.load(std::memory_order_relaxed)) {
    peak_.store(entries_.size(), std::memory_order_relaxed);
  }
}

void ConnectionRegistry::remove(std::uint64_t id) {
  std::lock_guard lock(mutex_);
  entries_.erase(id);
  current_.store(entries_.size(), std::memory_order_relaxed);
}

std::map<std::uint64_t, ConnectionRegistry::Entry> ConnectionRegistry::snapshot() const {
  std::lock_guard lock(mutex_);
  return entries_;
}

}  // namespace spoold
