// Control messages that travel through a loop's inbox beside payloads.
#pragma once

#include <functional>
#include <memory>

#include "spool/buffer.h"

namespace spool::core {

/// A control message for a loop. `fn` runs on the loop thread with
/// cancelled=false, or, when the loop has already stopped, with
/// cancelled=true on whichever thread drains the inbox then; it must release
/// whatever the task owns in both cases.
struct LoopTask : detail::InboxNode {
  using Fn = void (*)(LoopTask* self, bool cancelled) noexcept;
  explicit LoopTask(Fn f) noexcept : InboxNode(detail::InboxKind::kControl), fn(f) {}
  Fn fn;
};

/// A task embedded in the object it acts on, so posting it allocates nothing.
template <typename Owner>
struct MemberTask : LoopTask {
  MemberTask(Owner* o, Fn f) noexcept : LoopTask(f), owner(o) {}
  Owner* owner;
};

/// A runInLoop() closure: heap-allocated, for control work only (never per message).
struct FunctionTask : LoopTask {
  explicit FunctionTask(std::function<void(bool)> f) : LoopTask(&FunctionTask::run), fn(std::move(f)) {}
  static void run(LoopTask* task, bool cancelled) noexcept {
    std::unique_ptr<FunctionTask> self(static_cast<FunctionTask*>(task));
    self->fn(cancelled);
  }
  std::function<void(bool)> fn;
};

}  // namespace spool::core
