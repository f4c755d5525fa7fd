// A connection's send budget: accepted bytes not yet taken by the kernel.
#pragma once

#include <atomic>
#include <cstddef>

namespace spool::core {

/// The backlog is accepted - retired, kept on two cache lines so that
/// neither side's hot read-modify-write bounces the other's line: producers
/// add to `accepted`, the loop adds to `retired` (written to the kernel, or
/// dropped). A send is accepted while the backlog before it is under the high
/// watermark; a refused send raises a flag that the loop turns into one
/// onWritable() once the backlog is back at the low watermark.
class SendBudget {
 public:
  SendBudget(std::size_t high, std::size_t low) noexcept : high_(high), low_(low) {}

  /// Accounts `size` bytes, or refuses them (false: nothing accounted, the
  /// refusal flag raised). Thread-safe; the common case is one relaxed
  /// fetch_add.
  [[nodiscard]] bool reserve(std::size_t size) noexcept;
  /// The loop (or the after-stop drainer) is done with `size` accepted
  /// bytes. @return the backlog after it.
  std::size_t retire(std::size_t size) noexcept;
  /// Thread-safe snapshot.
  [[nodiscard]] std::size_t backlog(std::memory_order order = std::memory_order_relaxed) const noexcept;
  /// After retire(): true when the backlog it returned is at the low
  /// watermark and a send was refused since the last onWritable().
  [[nodiscard]] bool writableOwed(std::size_t backlog_now) const noexcept {
    return backlog_now <= low_ && refused_.load(std::memory_order_seq_cst);
  }
  /// Clears the refusal flag; true when it was set (onWritable() is due).
  [[nodiscard]] bool takeRefusal() noexcept { return refused_.exchange(false, std::memory_order_seq_cst); }

 private:
  const std::size_t high_;
  const std::size_t low_;
  // Producer-hot line: written by every send, read by the loop once per write.
  alignas(64) std::atomic<std::size_t> accepted_{0};
  std::atomic<bool> refused_{false};
  // Written by the loop once per write; read by every send, so nothing that
  // changes per message may share this line.
  alignas(64) std::atomic<std::size_t> retired_{0};
};

}  // namespace spool::core
