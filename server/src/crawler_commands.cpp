#include "crawler_commands.h"

#include "numbers.h"

namespace spoold {

namespace {

/// memcached's crawl argument: "all", or ids split at commas (empty parts
/// skipped, as strtok does). @return false for an id outside 1..63.
bool parseClasses(std::string_view arg, ClassMask& out) {
  if (arg == "all") {
    out.set();
    out.reset(0);
    return true;
  }
  while (!arg.empty()) {
    const std::size_t comma = arg.find(',');
    const std::string_view part = arg.substr(0, comma);
    arg = comma == std::string_view::npos ? std::string_view{} : arg.substr(comma + 1);
    std::uint32_t id = 0;
    if (part.empty()) {
      continue;
    }
    if (!parseU32(part, id) || id < 1 || id >= out.size()) {
      return false;
    }
    out.set(id);
  }
  return true;
}

}  // namespace

std::string_view startCrawl(StoreMaintainer& maintainer, std::string_view classes) {
  if (!maintainer.crawlerEnabled()) {
    return "CLIENT_ERROR lru crawler disabled";
  }
  ClassMask mask;
  if (classes != "hash" && !parseClasses(classes, mask)) {
    return "BADCLASS invalid class id";
  }
  if (maintainer.busy()) {
    return "BUSY currently processing crawler request";  // memcached checks that next
  }
  if (classes == "hash") {
    return "ERROR an unknown error happened";  // memcached walks its hash table only to dump
  }
  if (mask.none()) {
    return "NOTSTARTED no items to crawl";
  }
  switch (maintainer.crawl(mask)) {
    case StoreMaintainer::CrawlStart::kStarted: return "OK";
    case StoreMaintainer::CrawlStart::kBusy: return "BUSY currently processing crawler request";
    case StoreMaintainer::CrawlStart::kDisabled: break;
  }
  return "CLIENT_ERROR lru crawler disabled";
}

std::string_view switchCrawler(StoreMaintainer& maintainer, bool enable) {
  if (!enable) {
    maintainer.disableCrawler();
    return "OK";
  }
  return maintainer.enableCrawler() ? "OK" : "ERROR failed to start lru crawler thread";
}

}  // namespace spoold
