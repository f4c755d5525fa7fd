#include "iobuf_input.h"

#include <folly/io/Cursor.h>

#include <algorithm>
#include <cstring>

namespace spool::folly_backend {

std::span<const std::byte> IoBufInput::contiguous(std::size_t n) {
  if (n == 0) {
    return {};
  }
  // gather() coalesces the front of the chain in place when it is split.
  queue_.gather(n);
  return {reinterpret_cast<const std::byte*>(queue_.front()->data()), n};
}

std::span<const std::byte> IoBufInput::firstChunk() const noexcept {
  const folly::IOBuf* front = queue_.front();
  if (front == nullptr) {
    return {};
  }
  // The first non-empty buffer of the chain.
  const folly::IOBuf* buf = front;
  do {
    if (buf->length() > 0) {
      return {reinterpret_cast<const std::byte*>(buf->data()), buf->length()};
    }
    buf = buf->next();
  } while (buf != front);
  return {};
}

std::optional<std::size_t> IoBufInput::find(std::string_view needle, std::size_t limit) const {
  const folly::IOBuf* front = queue_.front();
  if (front == nullptr || needle.empty()) {
    return std::nullopt;
  }
  limit = std::min(limit, size());
  if (needle.size() > limit) {
    return std::nullopt;
  }
  // Walk the chain with a small carry so a match across buffers is found.
  std::size_t offset = 0;       // bytes of the chain before `buf`
  std::string window;           // the last needle.size()-1 bytes of earlier buffers
  const folly::IOBuf* buf = front;
  do {
    const auto* data = reinterpret_cast<const char*>(buf->data());
    const std::size_t length = std::min<std::size_t>(buf->length(), limit - offset);
    if (!window.empty()) {
      std::string joined = window;
      joined.append(data, std::min(length, needle.size() - 1));
      if (const auto at = joined.find(needle); at != std::string::npos) {
        return offset - window.size() + at;
      }
    }
    const std::string_view chunk(data, length);
    if (const auto at = chunk.find(needle); at != std::string_view::npos) {
      return offset + at;
    }
    const std::size_t keep = std::min(needle.size() - 1, window.size() + length);
    window.append(data, length);
    window.erase(0, window.size() - keep);
    offset += length;
    buf = buf->next();
  } while (buf != front && offset < limit);
  return std::nullopt;
}

void IoBufInput::copyOut(std::span<std::byte> dst) const {
  if (dst.empty()) {
    return;
  }
  folly::io::Cursor cursor(queue_.front());
  cursor.pull(dst.data(), dst.size());
}

Buffer IoBufInput::take(std::size_t n) {
  Buffer out = Buffer::allocate(n);
  out.resize(n);
  copyOut({out.mutableData(), n});
  queue_.trimStart(n);
  return out;
}

}  // namespace spool::folly_backend
