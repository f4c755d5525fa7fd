// A strategy made of one independent object per loop.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "message.h"

namespace spool::bench {

/// LoopT(index, sink) owns one loop; it has start(), stop() and a
/// thread-safe post(Message*). Messages go to the loop they name.
template <typename LoopT>
class PerLoopStrategy : public HandoffStrategy {
 public:
  PerLoopStrategy(unsigned loops, MessageSink& sink) {
    for (unsigned i = 0; i < loops; ++i) {
      loops_.push_back(std::make_unique<LoopT>(i, sink));
    }
  }
  void start() override {
    for (auto& loop : loops_) {
      loop->start();
    }
  }
  void send(Message* msg) noexcept override { loops_[msg->loop]->post(msg); }
  void stop() override {
    for (auto& loop : loops_) {
      loop->stop();
    }
  }
  std::uint64_t pendingRearms() const noexcept override {
    std::uint64_t sum = 0;
    if constexpr (requires(const LoopT& l) { l.pendingRearms(); }) {
      for (const auto& loop : loops_) {
        sum += loop->pendingRearms();
      }
    }
    return sum;
  }

 private:
  std::vector<std::unique_ptr<LoopT>> loops_;
};

}  // namespace spool::bench
