#include "spool/buffer.h"

#include "block_cache.h"

#include <cassert>
#include <cstring>
#include <new>

namespace spool {
namespace {

using detail::BufferBlock;

// One allocation: the header, then the bytes, aligned for any scalar.
constexpr std::size_t kHeaderSize =
    (sizeof(BufferBlock) + alignof(std::max_align_t) - 1) & ~(alignof(std::max_align_t) - 1);

BufferBlock* newInlineBlock(std::size_t capacity) {
  // Small blocks come from the thread's cache (see block_cache.h).
  if (auto* cached = detail::BlockCache::allocate(kHeaderSize + capacity, kHeaderSize)) {
    return cached;
  }
  void* raw = ::operator new(kHeaderSize + capacity);
  auto* block = new (raw) BufferBlock();
  block->data = static_cast<std::byte*>(raw) + kHeaderSize;
  block->capacity = capacity;
  block->inline_data = true;
  return block;
}

}  // namespace

void detail::BufferBlock::destroy(BufferBlock* block) noexcept {
  if (block->release_fn != nullptr) {
    block->release_fn(block->release_context, block->data, block->size);
  }
  if (block->cache != nullptr) {
    BlockCache::free(block);
    return;
  }
  block->~BufferBlock();
  ::operator delete(block);
}

void detail::flushThreadFrees() noexcept { BlockCache::flushFrees(); }

Buffer Buffer::allocate(std::size_t capacity) { return Buffer(newInlineBlock(capacity)); }

Buffer Buffer::copyOf(std::span<const std::byte> bytes) {
  Buffer buffer = allocate(bytes.size());
  buffer.append(bytes);
  return buffer;
}

Buffer Buffer::copyOf(std::string_view text) { return copyOf(std::as_bytes(std::span(text))); }

Buffer Buffer::wrap(const void* data, std::size_t size, ReleaseFn release, void* context) {
  auto* block = new BufferBlock();
  // The bytes stay the caller's: spool only reads them.
  block->data = const_cast<std::byte*>(static_cast<const std::byte*>(data));
  block->size = size;
  block->capacity = size;
  block->release_fn = release;
  block->release_context = context;
  return Buffer(block);
}

std::size_t Buffer::size() const noexcept { return block_ ? block_->size : 0; }
std::size_t Buffer::capacity() const noexcept { return block_ ? block_->capacity : 0; }
const std::byte* Buffer::data() const noexcept { return block_ ? block_->data : nullptr; }

std::byte* Buffer::mutableData() noexcept {
  return block_ && block_->inline_data ? block_->data : nullptr;
}

void Buffer::resize(std::size_t size) noexcept {
  assert(block_ && block_->inline_data && size <= block_->capacity);
  block_->size = size;
}

void Buffer::append(std::span<const std::byte> bytes) noexcept {
  assert(block_ && block_->inline_data);
  assert(block_->size + bytes.size() <= block_->capacity);
  if (!bytes.empty()) {
    std::memcpy(block_->data + block_->size, bytes.data(), bytes.size());
  }
  block_->size += bytes.size();
}

void Buffer::append(std::string_view text) noexcept { append(std::as_bytes(std::span(text))); }

void Buffer::reset() noexcept {
  if (block_ != nullptr) {
    detail::BufferBlock::destroy(std::exchange(block_, nullptr));
  }
}

}  // namespace spool
