#include "stream_input.h"

#include <algorithm>
#include <cassert>
#include <cstring>
#include <new>

namespace spool::core {

std::span<std::byte> StreamInput::prepare(std::span<std::byte> scratch, std::size_t max) noexcept {
  assert(!in_scratch_ && max > 0);
  const std::size_t held = size();
  // Little held, and the frame fits the scratch buffer: move it there.
  if (held <= scratch.size() / 4 && wanted_ <= scratch.size()) {
    if (held > 0) {
      std::memcpy(scratch.data(), data_ + begin_, held);
    }
    // own_ is kept: settle() reuses it for what this read leaves over, so a
    // pipelining client's reads (each ending mid-request) cost no malloc.
    data_ = scratch.data();
    begin_ = 0;
    end_ = held;
    in_scratch_ = true;
    return {scratch.data() + held, std::min(scratch.size() - held, max)};
  }
  const std::size_t room =
      std::min(std::max(kOwnReadBytes, wanted_ > held ? wanted_ - held : 0), max);
  if (!reserveOwn(room)) {
    return {};
  }
  return {data_ + end_, room};
}

bool StreamInput::reserveOwn(std::size_t room) noexcept {
  const std::size_t held = size();
  if (own_ && own_capacity_ - end_ >= room) {
    return true;
  }
  if (own_ && own_capacity_ >= held + room) {
    std::memmove(own_.get(), data_ + begin_, held);  // room enough once compacted
  } else {
    const std::size_t capacity = std::max(held + room, own_capacity_ * 2);
    std::unique_ptr<std::byte[]> bigger(new (std::nothrow) std::byte[capacity]);
    if (!bigger) {
      return false;
    }
    if (held > 0) {
      std::memcpy(bigger.get(), data_ + begin_, held);
    }
    own_ = std::move(bigger);
    own_capacity_ = capacity;
  }
  data_ = own_.get();
  begin_ = 0;
  end_ = held;
  return true;
}

bool StreamInput::settle() noexcept {
  const std::size_t held = size();
  if (!in_scratch_) {
    if (held == 0 && own_) {
      release();  // idle: give the memory back
    }
    return true;
  }
  in_scratch_ = false;
  const std::byte* from = data_ + begin_;
  if (held == 0) {
    release();  // idle: give the memory back
    return true;
  }
  // Reuse the buffer unless it is too small, or far larger than what is
  // held now (a large frame's buffer is not kept for small leftovers).
  if (!own_ || own_capacity_ < held || own_capacity_ > std::max(4 * held, kKeepOwnBytes)) {
    const std::size_t capacity = (held + kOwnGranule - 1) / kOwnGranule * kOwnGranule;
    own_.reset(new (std::nothrow) std::byte[capacity]);
    if (!own_) {
      release();
      return false;
    }
    own_capacity_ = capacity;
  }
  std::memcpy(own_.get(), from, held);
  begin_ = 0;
  data_ = own_.get();
  end_ = held;
  return true;
}

void StreamInput::release() noexcept {
  own_.reset();
  own_capacity_ = 0;
  data_ = nullptr;
  begin_ = end_ = 0;
  in_scratch_ = false;
}

std::optional<std::size_t> StreamInput::find(std::string_view needle, std::size_t limit) const {
  limit = std::min(limit, size());
  if (needle.empty() || limit < needle.size()) {
    return std::nullopt;
  }
  const auto* start = reinterpret_cast<const char*>(data_ + begin_);
  const void* at = ::memmem(start, limit, needle.data(), needle.size());
  if (at == nullptr) {
    return std::nullopt;
  }
  return static_cast<std::size_t>(static_cast<const char*>(at) - start);
}

void StreamInput::copyOut(std::span<std::byte> dst) const {
  assert(dst.size() <= size());
  if (!dst.empty()) {
    std::memcpy(dst.data(), data_ + begin_, dst.size());
  }
}

void StreamInput::consume(std::size_t n) {
  assert(n <= size());
  begin_ += n;
  if (begin_ == end_) {
    begin_ = end_ = 0;
  }
}

Buffer StreamInput::take(std::size_t n) {
  assert(n <= size());
  Buffer buffer = Buffer::allocate(n);
  buffer.append({data_ + begin_, n});
  consume(n);
  return buffer;
}

}  // namespace spool::core
