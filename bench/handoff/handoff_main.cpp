// handoff: P producer threads hand trivial messages to L loops, each
// strategy side by side in one run. See docs/benchmarks.md.
#include <cstdio>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "cli.h"
#include "handoff_run.h"
#include "json.h"
#include "lock_counter.h"
#include "strategies.h"
#include "table.h"

using namespace spool::bench;

namespace {

std::string resultJson(const HandoffConfig& config, const HandoffResult& r) {
  JsonObject o;
  o.add("strategy", config.strategy)
      .add("ok", r.ok)
      .add("messages", r.messages)
      .add("seconds", r.seconds)
      .add("msgs_per_s", r.messages_per_s)
      .add("send_ns_mean", r.send_ns_mean)
      .add("send_p50_ns", r.send_p50_ns)
      .add("send_p99_ns", r.send_p99_ns)
      .add("send_p999_ns", r.send_p999_ns)
      .add("send_max_ns", r.send_max_ns)
      .add("latency_p50_ns", r.latency_p50_ns)
      .add("latency_p99_ns", r.latency_p99_ns)
      .add("latency_p999_ns", r.latency_p999_ns)
      .add("latency_max_ns", r.latency_max_ns)
      .add("eventfd_writes_per_msg", r.write_syscalls_per_msg)
      .add("voluntary_switches_per_msg", r.voluntary_switches_per_msg)
      .add("producer_libevent_locks", r.producer_libevent_locks)
      .add("window_full_per_msg", r.window_full_per_msg)
      .add("pending_rearms", r.pending_rearms);
  if (!r.ok) {
    o.add("error", r.error);
  }
  return o.str();
}

}  // namespace

int main(int argc, char** argv) {
  HandoffConfig config;
  std::string strategies;
  for (const auto& name : handoffStrategyNames()) {
    strategies += (strategies.empty() ? "" : ",") + name;
  }
  bool json = false;
  ArgParser args("handoff",
                 "P producer threads hand trivial messages to L libevent loops; strategies side by side:\n"
                 "  spool      spool's inbox on this build's backend (its own loop and send path):\n"
                 "             lock-free MPSC push, eventfd only on empty->non-empty\n"
                 "  mutex      mutex-protected vector + event_active on empty->non-empty (Envoy, muduo)\n"
                 "  eventfd    the same lock-free queue, one eventfd write per message\n"
                 "  locked     copy into the loop's buffer under a lock it shares, event_active per message\n"
                 "  wait       post and block until the loop ran it (runInEventBaseThreadAndWait)\n"
#ifdef SPOOL_BENCH_HAVE_FOLLY
                 "  folly-post folly's own: EventBase::runInEventBaseThread per message\n"
#endif
                 );
  args.add("strategies", &strategies, "comma-separated strategies to run");
  args.add("producers", &config.producers, "producer threads");
  args.add("loops", &config.loops, "loop threads");
  args.add("duration", &config.duration_s, "seconds each strategy's producers run");
  args.add("max-messages", &config.max_messages, "stop each producer after this many (0: no limit)");
  args.add("window", &config.window, "messages in flight per (producer, loop), power of two");
  args.add("sample-every", &config.sample_every, "time and timestamp every Nth send");
  args.add("json", &json, "print one JSON object instead of a table");
  args.parse(argc, argv);
  if (config.producers == 0 || config.loops == 0 || config.sample_every == 0 || config.window == 0 ||
      (config.window & (config.window - 1)) != 0) {
    std::fprintf(stderr, "handoff: producers, loops, sample-every must be > 0; window a power of two\n");
    return 2;
  }

  // Before any event_base exists: real (pthread) locks that count who takes them.
  spool::libevent::testing::installCountingLocks();

  bool all_ok = true;
  std::vector<std::string> rows_json;
  TextTable table({"strategy", "msgs/s", "send mean", "send p99.9", "send max", "lat p50", "lat p99",
                   "lat p99.9", "wr/msg", "vcsw/msg", "locks", "pending"});
  for (const auto& name : splitList(strategies)) {
    HandoffConfig run = config;
    run.strategy = name;
    const HandoffResult r = runHandoff(run);
    all_ok = all_ok && r.ok;
    if (!r.ok) {
      std::fprintf(stderr, "handoff: %s: %s\n", name.c_str(), r.error.c_str());
    }
    rows_json.push_back(resultJson(run, r));
    table.addRow({name, siNumber(r.messages_per_s), duration(static_cast<std::uint64_t>(r.send_ns_mean)),
                  duration(r.send_p999_ns), duration(r.send_max_ns), duration(r.latency_p50_ns),
                  duration(r.latency_p99_ns), duration(r.latency_p999_ns),
                  fmt::format("{:.4f}", r.write_syscalls_per_msg),
                  fmt::format("{:.4f}", r.voluntary_switches_per_msg),
                  r.producer_libevent_locks < 0 ? std::string("-") : std::to_string(r.producer_libevent_locks),
                  std::to_string(r.pending_rearms)});
  }
  if (json) {
    std::string results = "[";
    for (std::size_t i = 0; i < rows_json.size(); ++i) {
      results += (i ? ", " : "") + rows_json[i];
    }
    results += "]";
    JsonObject o;
    o.add("benchmark", "handoff")
        .add("producers", config.producers)
        .add("loops", config.loops)
        .add("duration_s", config.duration_s)
        .add("window", config.window)
        .raw("results", results);
    std::printf("%s\n", o.str().c_str());
  } else {
    std::printf("handoff: %u producer(s) -> %u loop(s), %.2f s per strategy, window %u\n",
                config.producers, config.loops, config.duration_s, config.window);
    table.print();
  }
  return all_ok ? 0 : 1;
}
