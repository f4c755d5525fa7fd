// The replies of `lru_crawler crawl|enable|disable`, as memcached 1.6.18's.
#pragma once

#include <string_view>

#include "store_maintainer.h"

namespace spoold {

/// `lru_crawler crawl <classes>`: "all" or ids 1..63 separated by commas
/// (memcached takes any id below its 64 classes, used or not). @return the
/// reply line: OK, BUSY while a crawl runs, BADCLASS, NOTSTARTED, or disabled.
std::string_view startCrawl(StoreMaintainer& maintainer, std::string_view classes);

/// `lru_crawler enable|disable`: enabling an enabled crawler fails as
/// memcached's does (its thread is already there). @return the reply line.
std::string_view switchCrawler(StoreMaintainer& maintainer, bool enable);

}  // namespace spoold
