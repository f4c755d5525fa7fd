// Intrusive multi-producer single-consumer queue: the inbox of every loop.
#pragma once

#include <atomic>
#include <cassert>
#include <concepts>
#include <cstddef>

namespace spool {

/// The link a type embeds to travel through an MpscQueue. A node is in at most
/// one queue at a time; the queue never allocates and never frees nodes.
struct MpscHook {
  std::atomic<MpscHook*> mpsc_next{nullptr};
};

/// Result of MpscQueue::pop().
enum class PopStatus {
  kItem,     ///< a node was returned
  kEmpty,    ///< the queue held nothing when looked at
  kPending,  ///< a producer is between its exchange and its link: try again later
};

/// An unbounded intrusive MPSC queue in the style of Vyukov's, with a null
/// tail meaning "empty" so that push() can report the empty -> non-empty
/// transition, which is what lets producers skip the wake-up most of the time.
///
/// - push(): thread-safe, wait-free: one atomic exchange plus one store. FIFO
///   per producer; pushes are ordered by their exchange on `tail_`, so a push
///   that happens-before another is popped before it.
/// - pop(), empty(): consumer thread only (one consumer at a time; callers that
///   hand the consumer role over must synchronise the hand-over themselves).
///
/// A producer preempted between its exchange and its link leaves a gap the
/// consumer cannot cross: pop() then reports kPending and leaves every node in
/// place; nothing is lost, and a later pop() picks up from the same point.
template <typename T>
  requires std::derived_from<T, MpscHook>
class MpscQueue {
 public:
  MpscQueue() = default;
  MpscQueue(const MpscQueue&) = delete;
  MpscQueue& operator=(const MpscQueue&) = delete;
  ~MpscQueue() { assert(empty() && "MpscQueue destroyed with nodes inside"); }

  /// Appends `node`. Thread-safe: may be called from any thread.
  /// @return true when the queue was empty just before this push (the caller
  ///         is the one producer that must make sure the consumer wakes up).
  bool push(T* node) noexcept {
    MpscHook* hook = node;
    hook->mpsc_next.store(nullptr, std::memory_order_relaxed);
    // seq_cst: the caller's next step is often a load of the consumer's
    // "draining" flag, and the two must not be reordered (Dekker pattern).
    MpscHook* prev = tail_.exchange(hook, std::memory_order_seq_cst);
    if (prev == nullptr) {
      head_.store(hook, std::memory_order_release);
      return true;
    }
    prev->mpsc_next.store(hook, std::memory_order_release);
    return false;
  }

  /// Removes the oldest node. Consumer thread only.
  PopStatus pop(T*& out) noexcept {
    MpscHook* head = head_.load(std::memory_order_acquire);
    if (head == nullptr) {
      // Either truly empty, or the first producer into an empty queue has
      // exchanged the tail but not yet published the head.
      return tail_.load(std::memory_order_acquire) == nullptr ? PopStatus::kEmpty
                                                               : PopStatus::kPending;
    }
    MpscHook* next = head->mpsc_next.load(std::memory_order_acquire);
    if (next == nullptr) {
      // `head` looks like the last node. Clear the head first, then try to
      // swing the tail to null; a producer that finds a null tail afterwards
      // publishes the new head itself.
      head_.store(nullptr, std::memory_order_relaxed);
      MpscHook* expected = head;
      if (tail_.compare_exchange_strong(expected, nullptr, std::memory_order_seq_cst,
                                        std::memory_order_acquire)) {
        out = static_cast<T*>(head);
        return PopStatus::kItem;
      }
      // A producer exchanged the tail after `head` and is about to link it.
      next = head->mpsc_next.load(std::memory_order_acquire);
      if (next == nullptr) {
        head_.store(head, std::memory_order_relaxed);  // keep it; retry later
        return PopStatus::kPending;
      }
    }
    head_.store(next, std::memory_order_relaxed);
    out = static_cast<T*>(head);
    return PopStatus::kItem;
  }

  /// True when no producer has pushed a node that is still in the queue.
  /// Exact on the consumer thread for nodes whose push happened-before the
  /// call. Consumer thread only.
  bool empty() const noexcept { return tail_.load(std::memory_order_seq_cst) == nullptr; }

 private:
  friend struct MpscQueueTestAccess;  // drives a push half-way, in tests only

  // Consumer-owned end, written by a producer only when it finds the queue empty.
  alignas(64) std::atomic<MpscHook*> head_{nullptr};
  // Producer end.
  alignas(64) std::atomic<MpscHook*> tail_{nullptr};
};

}  // namespace spool
