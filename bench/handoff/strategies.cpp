#include "strategies.h"

namespace spool::bench {
namespace {

using Factory = std::unique_ptr<HandoffStrategy> (*)(unsigned loops, MessageSink& sink);

struct Named {
  const char* name;
  Factory make;
};

constexpr Named kStrategies[] = {
    {"spool", &makeSpoolInboxStrategy},
    {"mutex", &makeMutexPostStrategy},
    {"eventfd", &makeEventfdPerMessageStrategy},
    {"locked", &makeLockedStrategy},
    {"wait", &makeRunAndWaitStrategy},
#ifdef SPOOL_BENCH_HAVE_FOLLY
    {"folly-post", &makeFollyPostStrategy},
#endif
};

}  // namespace

const std::vector<std::string>& handoffStrategyNames() {
  static const std::vector<std::string> names = {
      "spool", "mutex", "eventfd", "locked", "wait",
#ifdef SPOOL_BENCH_HAVE_FOLLY
      "folly-post",
#endif
  };
  return names;
}

std::unique_ptr<HandoffStrategy> makeHandoffStrategy(const std::string& name, unsigned loops,
                                                     MessageSink& sink) {
  for (const auto& s : kStrategies) {
    if (name == s.name) {
      return s.make(loops, sink);
    }
  }
  return nullptr;
}

}  // namespace spool::bench
