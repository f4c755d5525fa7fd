#include "metadump.h"

#include <algorithm>
#include <fmt/format.h>

#include "text_parser.h"

namespace spoold {

MetadumpService::MetadumpService(Store& store) : store_(store) {
  thread_ = std::jthread([this] { loop(); });
}

MetadumpService::~MetadumpService() { stop(); }

bool MetadumpService::start(std::shared_ptr<MetadumpSink> sink, const MetadumpRequest& request) {
  {
    std::lock_guard lock(mutex_);
    if (running_ || stopping_.load()) {
      return false;
    }
    running_ = true;
    starts_.fetch_add(1, std::memory_order_relaxed);
    job_ = Job{std::move(sink), request};
  }
  cv_.notify_all();
  return true;
}

void MetadumpService::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_.store(true);
  }
  cv_.notify_all();
  if (thread_.joinable()) {
    thread_.join();
  }
}

bool MetadumpService::running() {
  std::lock_guard lock(mutex_);
  return running_;
}

void MetadumpService::loop() {
  std::unique_lock lock(mutex_);
  for (;;) {
    cv_.wait(lock, [this] { return stopping_.load() || job_.has_value(); });
    if (!job_) {
      return;
    }
    Job job = std::move(*job_);
    job_.reset();
    lock.unlock();
    if (!stopping_.load()) {
      dump(job);
    }
    job.sink->metadumpDone();
    job.sink.reset();
    lock.lock();
    running_ = false;
  }
}

bool MetadumpService::wanted(const Job& job, std::uint8_t slab_class) const noexcept {
  return job.request.all || std::find(job.request.classes.begin(), job.request.classes.end(),
                                      slab_class) != job.request.classes.end();
}

void MetadumpService::appendLine(const Item& item, std::string& out) const {
  const Clock& clock = store_.clock();
  out.append("key=");
  uriEncode(item.key(), out);
  const long long exp = item.exptime == 0 ? -1 : clock.toUnix(item.exptime);
  fmt::format_to(std::back_inserter(out), " exp={} la={} cas={} fetch={} cls={} size={}\n", exp,
                 clock.toUnix(item.time), item.cas, item.fetched ? "yes" : "no", item.slab_class,
                 item.totalSize());
}

bool MetadumpService::sendPieces(const Job& job, std::string& lines, bool everything) {
  std::size_t pos = 0;
  while (lines.size() - pos >= kPieceBytes || (everything && pos < lines.size())) {
    const std::size_t n = std::min(kPieceBytes, lines.size() - pos);
    if (!job.sink->sendPaced(spool::Buffer::copyOf(std::string_view(lines).substr(pos, n)), stopping_)) {
      return false;
    }
    pos += n;
  }
  lines.erase(0, pos);
  return true;
}

void MetadumpService::dump(const Job& job) {
  std::string lines;
  for (std::size_t shard = 0; shard < Store::kShards; ++shard) {
    // Format under the shard's lock, send outside it: a slow reader must
    // never hold a lock that the command path needs.
    store_.forEachInShard(shard, [&](const Item& item) {
      if (wanted(job, item.slab_class)) {
        appendLine(item, lines);
      }
    });
    if (!sendPieces(job, lines, false)) {
      return;
    }
  }
  lines.append("END\r\n");
  sendPieces(job, lines, true);
}

}  // namespace spoold
