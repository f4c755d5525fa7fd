// Shared driver of the protocol fuzzers: feeds bytes to a fresh Session the
// way a connection would, in two segments, and checks its invariants.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "output.h"
#include "server_context.h"
#include "session.h"

namespace spoold::fuzz {

/// Small limits, so eviction and "too large" paths are reachable.
inline Settings fuzzSettings() {
  Settings s;
  s.memory_limit = 1u << 20;
  s.item_size_max = 64u << 10;
  return s;
}

/// Reports a broken invariant and stops: libFuzzer records the input as a crash.
[[noreturn]] inline void fail(const char* what, std::size_t consumed, std::size_t pending,
                              std::size_t output) {
  std::fprintf(stderr, "spoold fuzz: %s (consumed %zu of %zu pending bytes, %zu output bytes)\n",
               what, consumed, pending, output);
  std::fflush(stderr);
  __builtin_trap();
}

/// Runs `data` through a Session in two segments, split after `split` bytes
/// (clamped to the input's size).
///
/// Every call to Session::process() must make progress: consume input, ask
/// for more, or close. A call that returns without doing any of these (for
/// example, one that keeps writing responses without consuming the command
/// that caused them) would spin forever in a connection; here it traps, so
/// each round consumes at least one byte and the loop ends without a cap.
inline void runSession(std::string_view data, std::size_t split) {
  ServerContext ctx(fuzzSettings());
  Session session(ctx);
  split = split < data.size() ? split : data.size();
  std::string pending;
  for (const std::string_view segment : {data.substr(0, split), data.substr(split)}) {
    pending.append(segment);
    while (!pending.empty()) {
      Output out;
      const Session::Result r = session.process(pending, out);
      if (r.consumed > pending.size()) {
        fail("consumed more than it was given", r.consumed, pending.size(), out.size());
      }
      if (r.consumed == 0 && !r.need_more && r.action != Action::kClose) {
        fail(out.empty() ? "returned without consuming input, asking for more or closing"
                         : "produced output without consuming input",
             r.consumed, pending.size(), out.size());
      }
      pending.erase(0, r.consumed);
      if (r.action == Action::kClose) {
        return;
      }
      if (r.need_more) {
        break;  // the rest is an incomplete command: wait for the next segment
      }
    }
  }
}

/// Runs `data` split at a point chosen by its first byte (text and meta).
inline void runSession(std::string_view data) {
  runSession(data, data.empty() ? 0 : static_cast<unsigned char>(data[0]) % (data.size() + 1));
}

}  // namespace spoold::fuzz
