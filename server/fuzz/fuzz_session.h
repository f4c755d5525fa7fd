// Shared driver of the protocol fuzzers: feeds bytes to a fresh Session the
// way a connection would, in two segments, and checks its invariants.
#pragma once

#include <cstddef>
#include <cstdint>
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

/// Runs `data` through a Session split at a point chosen by its first byte.
inline void runSession(std::string_view data) {
  ServerContext ctx(fuzzSettings());
  Session session(ctx);
  const std::size_t split = data.empty() ? 0 : static_cast<unsigned char>(data[0]) % (data.size() + 1);
  std::string pending;
  for (const std::string_view segment : {data.substr(0, split), data.substr(split)}) {
    pending.append(segment);
    for (int rounds = 0; rounds < 100000 && !pending.empty(); ++rounds) {
      Output out;
      const Session::Result r = session.process(pending, out);
      if (r.consumed > pending.size()) {
        std::abort();  // never consume what is not there
      }
      pending.erase(0, r.consumed);
      if (r.action == Action::kClose) {
        return;
      }
      if (r.need_more || (r.consumed == 0 && out.empty() && r.action == Action::kNone)) {
        break;
      }
    }
  }
}

}  // namespace spoold::fuzz
