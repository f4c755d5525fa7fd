#include "send_budget.h"

#include <algorithm>

namespace spool::core {
namespace {
std::size_t difference(std::size_t accepted, std::size_t retired) noexcept {
  return accepted - std::min(accepted, retired);
}
}  // namespace

bool SendBudget::reserve(std::size_t size) noexcept {
  // Accepted while the backlog before this send was under the high
  // watermark. A stale view of retired_ only overestimates the backlog.
  std::size_t accepted = accepted_.fetch_add(size, std::memory_order_relaxed);
  std::size_t retired = retired_.load(std::memory_order_relaxed);
  if (difference(accepted, retired) < high_) [[likely]] {
    return true;
  }
  for (;;) {
    // Refused. Raise the flag before giving the bytes back (seq_cst
    // throughout): the loop retires written bytes, then reads the flag, so
    // either it sees the flag when the backlog reaches the low watermark, or
    // we see its retirement below and retry.
    refused_.store(true, std::memory_order_seq_cst);
    accepted = accepted_.fetch_sub(size, std::memory_order_seq_cst) - size;
    retired = retired_.load(std::memory_order_seq_cst);
    if (difference(accepted, retired) > low_) {
      return false;  // the loop will announce onWritable() once it drains
    }
    // The loop drained past the low watermark while we raced with it and may
    // not have seen the flag: try again instead of waiting for a wake-up
    // that might never come.
    accepted = accepted_.fetch_add(size, std::memory_order_seq_cst);
    retired = retired_.load(std::memory_order_seq_cst);
    if (difference(accepted, retired) < high_) {
      return true;
    }
  }
}

std::size_t SendBudget::retire(std::size_t size) noexcept {
  // seq_cst pairs with reserve(): retire, then look at accepted and the flag.
  const std::size_t retired = retired_.fetch_add(size, std::memory_order_seq_cst) + size;
  return difference(accepted_.load(std::memory_order_seq_cst), retired);
}

std::size_t SendBudget::backlog(std::memory_order order) const noexcept {
  const std::size_t retired = retired_.load(order);
  return difference(accepted_.load(order), retired);
}

}  // namespace spool::core
