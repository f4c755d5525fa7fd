#include "strategies.h"

namespace spool::bench {

const std::vector<std::string>& handoffStrategyNames() {
  static const std::vector<std::string> names = {"spool", "mutex", "eventfd", "threadsafe", "wait"};
  return names;
}

std::unique_ptr<HandoffStrategy> makeHandoffStrategy(const std::string& name, unsigned loops,
                                                     MessageSink& sink) {
  if (name == "spool") {
    return makeSpoolInboxStrategy(loops, sink);
  }
  if (name == "spool-yield") {
    return makeSpoolYieldStrategy(loops, sink);
  }
  if (name == "mutex") {
    return makeMutexPostStrategy(loops, sink);
  }
  if (name == "eventfd") {
    return makeEventfdPerMessageStrategy(loops, sink);
  }
  if (name == "threadsafe") {
    return makeThreadsafeBuffereventStrategy(loops, sink);
  }
  if (name == "wait") {
    return makeRunAndWaitStrategy(loops, sink);
  }
  return nullptr;
}

}  // namespace spool::bench
