#include "evbuffer_input.h"

#include <algorithm>
#include <cassert>

namespace spool::libevent {

std::size_t EvbufferInput::size() const noexcept { return evbuffer_get_length(buffer_); }

std::span<const std::byte> EvbufferInput::contiguous(std::size_t n) {
  assert(n <= size());
  if (n == 0) {
    return {};
  }
  auto* bytes = evbuffer_pullup(buffer_, static_cast<ev_ssize_t>(n));
  return {reinterpret_cast<const std::byte*>(bytes), n};
}

std::span<const std::byte> EvbufferInput::firstChunk() const noexcept {
  evbuffer_iovec vec{};
  if (evbuffer_peek(buffer_, -1, nullptr, &vec, 1) < 1) {
    return {};
  }
  return {static_cast<const std::byte*>(vec.iov_base), vec.iov_len};
}

std::optional<std::size_t> EvbufferInput::find(std::string_view needle, std::size_t limit) const {
  limit = std::min(limit, size());
  if (needle.empty() || limit < needle.size()) {
    return std::nullopt;
  }
  evbuffer_ptr end{};
  evbuffer_ptr* end_ptr = nullptr;
  if (limit < size()) {
    evbuffer_ptr_set(buffer_, &end, limit, EVBUFFER_PTR_SET);
    end_ptr = &end;
  }
  const evbuffer_ptr found = evbuffer_search_range(buffer_, needle.data(), needle.size(), nullptr, end_ptr);
  if (found.pos < 0) {
    return std::nullopt;
  }
  return static_cast<std::size_t>(found.pos);
}

void EvbufferInput::copyOut(std::span<std::byte> dst) const {
  assert(dst.size() <= size());
  evbuffer_copyout(buffer_, dst.data(), dst.size());
}

void EvbufferInput::consume(std::size_t n) {
  assert(n <= size());
  evbuffer_drain(buffer_, n);
}

Buffer EvbufferInput::take(std::size_t n) {
  assert(n <= size());
  Buffer buffer = Buffer::allocate(n);
  evbuffer_remove(buffer_, buffer.mutableData(), n);
  buffer.resize(n);
  return buffer;
}

}  // namespace spool::libevent
