// Owning payload buffer; the unit every send moves.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <utility>

#include "spool/mpsc_queue.h"

namespace spool {

namespace detail {
struct BufferBlock;
}  // namespace detail

/// A move-only, owning byte buffer: the payload of a send.
///
/// A Buffer is one heap block holding a small header followed by the bytes
/// (allocate(), copyOf()), or a header that points at caller memory with a
/// release callback (wrap(), for zero-copy sends). The header also holds the
/// link that carries the buffer through a loop's inbox, so sending a Buffer
/// needs no allocation of its own.
///
/// Not thread-safe: one thread owns a Buffer at a time; ownership moves with
/// the object (send() takes it by rvalue reference).
class Buffer {
 public:
  /// Called exactly once when spool no longer needs wrapped memory: after the
  /// bytes were written (or copied into spool's own storage), or when the
  /// payload was dropped because its connection closed, or when the Buffer is
  /// destroyed without being sent. May run on any thread.
  using ReleaseFn = void (*)(void* context, const std::byte* data, std::size_t size) noexcept;

  Buffer() noexcept = default;
  ~Buffer() { reset(); }
  Buffer(Buffer&& other) noexcept : block_(std::exchange(other.block_, nullptr)) {}
  Buffer& operator=(Buffer&& other) noexcept {
    if (this != &other) {
      reset();
      block_ = std::exchange(other.block_, nullptr);
    }
    return *this;
  }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  /// A buffer of at least `capacity` uninitialised bytes and size 0; append()
  /// or resize() fill it. Small buffers come from a per-thread cache, so a
  /// buffer allocated on a producer and freed on a loop thread takes no
  /// allocator lock on either side.
  static Buffer allocate(std::size_t capacity);
  /// A buffer holding a copy of `bytes`.
  static Buffer copyOf(std::span<const std::byte> bytes);
  static Buffer copyOf(std::string_view text);
  /// A buffer that points at caller memory without copying it. The memory
  /// must stay valid and unchanged until `release(context, data, size)` runs.
  static Buffer wrap(const void* data, std::size_t size, ReleaseFn release, void* context);

  [[nodiscard]] bool empty() const noexcept { return size() == 0; }
  explicit operator bool() const noexcept { return block_ != nullptr; }
  [[nodiscard]] std::size_t size() const noexcept;
  [[nodiscard]] std::size_t capacity() const noexcept;
  [[nodiscard]] const std::byte* data() const noexcept;
  /// Writable bytes of an allocated buffer; null for a wrapped one.
  [[nodiscard]] std::byte* mutableData() noexcept;
  [[nodiscard]] std::span<const std::byte> bytes() const noexcept { return {data(), size()}; }
  [[nodiscard]] std::string_view view() const noexcept {
    return {reinterpret_cast<const char*>(data()), size()};
  }

  /// Sets the size of an allocated buffer (at most its capacity).
  void resize(std::size_t size) noexcept;
  /// Appends to an allocated buffer; asserts that the bytes fit.
  void append(std::span<const std::byte> bytes) noexcept;
  void append(std::string_view text) noexcept;

  /// Frees the block now (running the release callback of a wrapped buffer).
  void reset() noexcept;

  /// Backend use: gives up the block without freeing it. Pair with adopt().
  [[nodiscard]] detail::BufferBlock* release() noexcept { return std::exchange(block_, nullptr); }
  [[nodiscard]] static Buffer adopt(detail::BufferBlock* block) noexcept { return Buffer(block); }

 private:
  explicit Buffer(detail::BufferBlock* block) noexcept : block_(block) {}
  detail::BufferBlock* block_ = nullptr;
};

namespace detail {

/// What travels through a loop's inbox. Payloads are BufferBlocks; the other
/// kinds are control messages that backends embed in their own objects.
enum class InboxKind : std::uint8_t { kPayload, kControl };

struct InboxNode : MpscHook {
  explicit InboxNode(InboxKind k) noexcept : kind(k) {}
  InboxKind kind;
};

/// The header of a Buffer's heap block. Backend-facing: a backend stores the
/// destination in `target` while the block is queued.
class BlockCache;

struct BufferBlock : InboxNode {
  BufferBlock() noexcept : InboxNode(InboxKind::kPayload) {}
  void* target = nullptr;           ///< backend's destination while queued
  std::byte* data = nullptr;
  std::size_t size = 0;
  std::size_t capacity = 0;
  Buffer::ReleaseFn release_fn = nullptr;  ///< wrapped memory only
  void* release_context = nullptr;
  BlockCache* cache = nullptr;  ///< the thread cache that made it, if any
  bool inline_data = false;     ///< the bytes follow the header in the same block
  std::uint8_t size_class = 0;  ///< the cache's size class when `cache` is set

  /// Runs the release callback (if any) and frees the block.
  static void destroy(BufferBlock* block) noexcept;
};

/// Hands blocks this thread freed on behalf of other threads back to them
/// (frees of small blocks are batched per owner). Loop threads call it after
/// each drain; cheap when there is nothing to hand back.
void flushThreadFrees() noexcept;

}  // namespace detail
}  // namespace spool
