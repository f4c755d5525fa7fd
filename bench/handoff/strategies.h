// The handoff strategies compared side by side.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "message.h"

namespace spool::bench {

/// Strategy names in table order: spool, mutex, eventfd, locked, wait,
/// and folly-post in a build with folly. Not listed (run on request):
/// spool-rearm, spool's earlier drain, which re-armed itself at once on
/// kPending (see spool_inbox_strategy.cpp).
const std::vector<std::string>& handoffStrategyNames();

/// Creates the named strategy over `loops` loops delivering to `sink`, or
/// null for an unknown name. Requires libevent threading to be enabled
/// (the benchmark installs the counting locks first).
std::unique_ptr<HandoffStrategy> makeHandoffStrategy(const std::string& name, unsigned loops,
                                                     MessageSink& sink);

// One per file.
std::unique_ptr<HandoffStrategy> makeSpoolInboxStrategy(unsigned loops, MessageSink& sink);
std::unique_ptr<HandoffStrategy> makeMutexPostStrategy(unsigned loops, MessageSink& sink);
std::unique_ptr<HandoffStrategy> makeEventfdPerMessageStrategy(unsigned loops, MessageSink& sink);
std::unique_ptr<HandoffStrategy> makeLockedStrategy(unsigned loops, MessageSink& sink);
std::unique_ptr<HandoffStrategy> makeRunAndWaitStrategy(unsigned loops, MessageSink& sink);
#ifdef SPOOL_BENCH_HAVE_FOLLY
std::unique_ptr<HandoffStrategy> makeFollyPostStrategy(unsigned loops, MessageSink& sink);
#endif

}  // namespace spool::bench
