#include "watch_log.h"

#include <sys/time.h>

#include <fmt/format.h>
#include <algorithm>
#include <cctype>

namespace spoold {
namespace {

thread_local std::uint64_t t_current_client = 0;

// How often the thread retries a watcher whose connection refused a send.
constexpr auto kRetryPeriod = std::chrono::milliseconds(10);

}  // namespace

bool parseWatchFlags(const std::vector<std::string_view>& args, unsigned& flags) {
  flags = args.empty() ? unsigned{kWatchFetchers} : 0u;
  for (const std::string_view arg : args) {
    if (arg == "fetchers") {
      flags |= kWatchFetchers;
    } else if (arg == "mutations") {
      flags |= kWatchMutations;
    } else if (arg == "evictions") {
      flags |= kWatchEvictions;
    } else if (arg == "connevents") {
      flags |= kWatchConnEvents;
    } else {
      return false;
    }
  }
  return true;
}

std::string uriEncode(std::string_view key) {
  std::string out;
  out.reserve(key.size());
  for (const char c : key) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) != 0 || c == '-' || c == '.' || c == '_' || c == '~') {
      out += c;
    } else {
      fmt::format_to(std::back_inserter(out), "%{:02X}", u);
    }
  }
  return out;
}

std::uint64_t WatchLog::currentClient() noexcept {
  return t_current_client;
}

WatchLog::ClientScope::ClientScope(std::uint64_t id) noexcept : previous_(t_current_client) {
  t_current_client = id;
}

WatchLog::ClientScope::~ClientScope() {
  t_current_client = previous_;
}

WatchLog::WatchLog(std::size_t buffer_limit) : buffer_limit_(buffer_limit) {}

WatchLog::~WatchLog() {
  stop();
}

void WatchLog::publish(unsigned flag, std::string_view body) {
  timeval tv{};
  gettimeofday(&tv, nullptr);
  // memcached prints the microseconds without zero padding.
  const std::string line = fmt::format("ts={}.{} gid={} {}\n", tv.tv_sec, tv.tv_usec,
                                       gid_.fetch_add(1, std::memory_order_relaxed) + 1, body);
  bool wake = false;
  {
    std::lock_guard lock(mutex_);
    for (Watcher& w : watchers_) {
      if ((w.flags & flag) == 0) {
        continue;
      }
      if (w.buffered() + line.size() > buffer_limit_) {
        ++w.skipped;  // never wait for a watcher
        ++stats_.skipped;
        continue;
      }
      if (w.skipped != 0) {
        fmt::format_to(std::back_inserter(w.pending), "skipped={}\n", w.skipped);
        w.skipped = 0;
      }
      w.pending += line;
      ++stats_.sent;
      wake = wake || !dirty_;
      dirty_ = true;
    }
  }
  if (wake) {
    cv_.notify_all();
  }
}

void WatchLog::add(spool::ConnectionPtr conn, unsigned flags) {
  std::lock_guard lock(mutex_);
  if (stopped_ || !conn->isOpen()) {
    // Stopping, or closed since `watch` ran (a worker's watch can race the
    // loop's onClose, whose remove() may already have found nothing).
    return;
  }
  watchers_.push_back(Watcher{std::move(conn), flags, {}, {}, 0});
  updateFlagsLocked();
  if (!thread_.joinable()) {
    thread_ = std::jthread([this](const std::stop_token& stop) { loop(stop); });
  }
}

void WatchLog::remove(std::uint64_t id) {
  std::lock_guard lock(mutex_);
  std::erase_if(watchers_, [id](const Watcher& w) { return w.conn->id() == id; });
  updateFlagsLocked();
}

void WatchLog::stop() {
  std::jthread thread;
  {
    std::lock_guard lock(mutex_);  // add() starts the thread under it
    stopped_ = true;
    thread = std::move(thread_);
  }
  if (thread.joinable()) {
    thread.request_stop();
    thread.join();
  }
  std::lock_guard lock(mutex_);
  watchers_.clear();
  updateFlagsLocked();
}

WatchLog::Stats WatchLog::stats() const {
  std::lock_guard lock(mutex_);
  Stats s = stats_;
  s.watchers = watchers_.size();
  for (const Watcher& w : watchers_) {
    s.buffered += w.buffered();
  }
  return s;
}

void WatchLog::updateFlagsLocked() noexcept {
  unsigned flags = 0;
  for (const Watcher& w : watchers_) {
    flags |= w.flags;
  }
  flags_.store(flags, std::memory_order_relaxed);
}

void WatchLog::loop(const std::stop_token& stop) {
  std::unique_lock lock(mutex_);
  while (!stop.stop_requested()) {
    const bool refused = std::any_of(watchers_.begin(), watchers_.end(),
                                     [](const Watcher& w) { return !w.held.empty(); });
    if (refused) {
      cv_.wait_for(lock, stop, kRetryPeriod, [this] { return dirty_; });
    } else {
      cv_.wait(lock, stop, [this] { return dirty_; });
    }
    dirty_ = false;
    // Sending under the lock keeps lines in order; a send never blocks.
    std::erase_if(watchers_, [this](Watcher& w) { return !flushLocked(w); });
    updateFlagsLocked();
  }
}

bool WatchLog::flushLocked(Watcher& w) {
  if (w.held.empty() && !w.pending.empty()) {
    w.held = spool::Buffer::copyOf(w.pending);
    w.pending.clear();
  }
  if (w.held.empty()) {
    return true;
  }
  const spool::SendResult result = w.conn->send(std::move(w.held));
  if (result == spool::SendResult::kBackpressure) {
    return true;  // left intact: the next round retries it
  }
  w.held = spool::Buffer{};  // its lines were counted in stats_.sent as they were queued
  return result == spool::SendResult::kOk;
}

}  // namespace spoold
